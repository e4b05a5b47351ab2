// Node's cluster module running express.cjs in WORKERS processes that share PORT (the baseline of the
// Node runner benchmark).
const cluster = require('node:cluster');

if (cluster.isPrimary) {
  const n = Number(process.env.WORKERS ?? 2);
  for (let i = 0; i < n; i++) cluster.fork();
  cluster.on('exit', () => process.exit(1));
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers)) w.kill();
    process.exit(0);
  });
} else {
  require('./express.cjs');
}
