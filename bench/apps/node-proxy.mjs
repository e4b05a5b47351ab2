// A bare node:http reverse proxy (keep-alive agent, no tsgi code): the floor of what proxying
// costs in Node, for bench/router-proxy.ts. Usage: node node-proxy.mjs LISTEN_PORT UPSTREAM_PORT
import http from 'node:http';

const [listen, upstream] = process.argv.slice(2).map(Number);
const agent = new http.Agent({ keepAlive: true, maxFreeSockets: 64, scheduling: 'lifo' });
http
  .createServer((req, res) => {
    const up = http.request(
      { host: '127.0.0.1', port: upstream, path: req.url, method: req.method, headers: req.headers, agent },
      (r) => {
        res.writeHead(r.statusCode, r.rawHeaders);
        r.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  })
  .listen(listen, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
