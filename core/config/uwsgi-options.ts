// TEMPORARY STUB: replaced by the generated table from the config branch.
const NAMES = new Set([
  'socket',
  'http-socket',
  'processes',
  'workers',
  'master',
  'module',
  'wsgi-file',
  'harakiri',
  'vacuum',
  'chdir',
  'callable',
  'threads',
  'listen',
  'buffer-size',
  'pythonpath',
  'home',
  'virtualenv',
  'env',
  'uid',
  'gid',
  'pidfile',
  'logto',
  'die-on-term',
  'need-app',
  'enable-threads',
  'lazy-apps',
  'http',
  'stats',
  'plugin',
  'plugins',
  'static-map',
  'route',
  'chmod-socket',
  'fastcgi-socket',
  'uwsgi-socket',
  'limit-post',
  'post-buffering',
  'http-timeout',
  'strict',
  'ini',
  'show-config',
  'reload-mercy',
  'worker-reload-mercy',
  'max-requests',
  'disable-logging',
  'cache2',
  'spooler',
  'https-socket',
]);
export function isUwsgiOption(name: string): boolean {
  return NAMES.has(name);
}
export function suggestOption(name: string, known: Iterable<string>): string | null {
  let best: string | null = null;
  let bestD = 3;
  for (const k of known) {
    const d = lev(name, k);
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return best;
}
function lev(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0]!;
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const t = dp[j]!;
      dp[j] = Math.min(dp[j]! + 1, dp[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = t;
    }
  }
  return dp[b.length]!;
}
