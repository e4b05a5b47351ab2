import { option } from '../config/option.js';
import { addressOption } from '../net/service.js';

/** Stats server options (uWSGI's: docs "The uWSGI Stats Server"). */
export const statsOptions = {
  stats: addressOption({
    help: 'serve the uWSGI-compatible JSON stats on this address (host:port or unix socket path)',
    aliases: ['stats-server'],
  }),
  'stats-http': option.bool({
    help: 'answer stats requests over HTTP (for curl, browsers and uwsgi_exporter)',
  }),
  'stats-minified': option.bool({ help: 'write the stats JSON without whitespace', aliases: ['stats-min'] }),
  'stats-no-cores': option.bool({ help: 'leave the per-core lists out of the stats JSON' }),
} as const;
