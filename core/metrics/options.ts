import { addressOption } from '../net/service.js';

/** Metrics options (tsgi's own: uWSGI has no Prometheus endpoint). */
export const metricsOptions = {
  prometheus: addressOption({
    help: 'serve Prometheus metrics at GET /metrics on this address (host:port or unix socket path)',
    origin: 'extension',
  }),
} as const;
