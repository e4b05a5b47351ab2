import { fetchStats } from '../../core/top/fetch.js';
import { type Family, parsePrometheusText } from './prometheus.js';
import { FIXTURES, fetchRaw, startTsgi, type TsgiProcess, waitFor } from './tsgi.js';

/** The `/metrics` URL an instance logged (`tsgi: metrics on http://...`). */
export async function metricsUrl(tsgi: TsgiProcess): Promise<string> {
  const m = await tsgi.waitForLine(/tsgi: metrics on (http:\/\/\S+)/);
  return m[1]!;
}

/** The stats address an instance logged (`tsgi: stats server on ...`). */
export async function statsAddr(tsgi: TsgiProcess): Promise<string> {
  const m = await tsgi.waitForLine(/tsgi: stats server on (\S+)/);
  return m[1]!;
}

/** Scrape `/metrics` over HTTP and parse it strictly. @throws on a non-200 or a malformed exposition. */
export async function scrape(url: string): Promise<Map<string, Family>> {
  const r = await fetchRaw(url);
  if (r.status !== 200) throw new Error(`scrape of ${url}: ${r.status} ${r.text}`);
  if (!String(r.headers['content-type']).startsWith('text/plain; version=0.0.4'))
    throw new Error(`scrape of ${url}: content-type ${r.headers['content-type']}`);
  return parsePrometheusText(r.text);
}

/** Read the stats JSON (the same client `tsgi top` uses). */
export async function stats(addr: string): Promise<Record<string, unknown>> {
  return (await fetchStats(addr)) as Record<string, unknown>;
}

/** Scrape until `pred` holds for the parsed metrics (a counter may lag its event by a scrape). */
export async function scrapeUntil(
  url: string,
  pred: (m: Map<string, Family>) => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<Map<string, Family>> {
  let last: Map<string, Family> | null = null;
  await waitFor(
    async () => {
      last = await scrape(url);
      return pred(last);
    },
    timeoutMs,
    what,
    100,
  );
  return last!;
}

/** The app the observability tests use (test/fixtures/apps/observe.py): one path per event. */
export const OBSERVE_APP = `${FIXTURES}/apps/observe.py`;

/** Start tsgi serving the observe app over http-socket with a stats server (both on free ports). */
export function startObserved(extra: string[] = []): Promise<TsgiProcess> {
  return startTsgi([
    '--http-socket',
    '127.0.0.1:0',
    '--wsgi-file',
    OBSERVE_APP,
    '--stats',
    '127.0.0.1:0',
    ...extra,
  ]);
}
