// The Node demo vassal: a plain request listener (node's standard library only), served by tsgi's
// Node runner in two worker processes. GET / greets; GET /hello/<name> greets by name; GET /json
// says which worker answered and how many requests it served.
let served = 0;

export default function greeter(req, res) {
  served++;
  const url = new URL(req.url, 'http://localhost');
  if (url.pathname === '/json') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ pid: process.pid, node: process.version, served, uptime: process.uptime() }));
    return;
  }
  const m = /^\/hello\/([^/]+)$/.exec(url.pathname);
  if (url.pathname !== '/' && !m) {
    res.statusCode = 404;
    res.end('not found\n');
    return;
  }
  const name = m ? decodeURIComponent(m[1]) : 'world';
  res.setHeader('content-type', 'text/plain; charset=utf-8');
  res.end(`Hello, ${name}, from Node ${process.version} (worker pid ${process.pid})\n`);
}
