/**
 * A strict parser of the Prometheus text exposition format 0.0.4 (prometheus.io/docs/instrumenting/
 * exposition_formats): it throws on anything a Prometheus server would reject or that breaks the
 * format's rules (bad names, bad escapes, a sample before its TYPE, a family split in two, a duplicate
 * series, a histogram whose buckets are not cumulative or whose +Inf bucket differs from its count).
 */

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Family {
  readonly name: string;
  type: MetricType;
  help: string;
  readonly samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

/** A sample value as Prometheus reads it (Go's strconv.ParseFloat: `NaN`, `±Inf` in any case). */
function parseValue(text: string, line: number): number {
  const t = text.toLowerCase();
  if (t === '+inf' || t === 'inf' || t === '+infinity' || t === 'infinity') return Number.POSITIVE_INFINITY;
  if (t === '-inf' || t === '-infinity') return Number.NEGATIVE_INFINITY;
  if (t === 'nan') return Number.NaN;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text))
    throw new Error(`line ${line}: bad value '${text}'`);
  return Number(text);
}

/** Parse `{a="x",b="y"}` starting at `s[i] === '{'`; returns the labels and the index after `}`. */
function parseLabels(s: string, i: number, line: number): [Record<string, string>, number] {
  const labels: Record<string, string> = {};
  i++;
  for (;;) {
    if (s[i] === '}') return [labels, i + 1];
    const eq = s.indexOf('=', i);
    if (eq === -1) throw new Error(`line ${line}: label without '='`);
    const name = s.slice(i, eq).trim();
    if (!LABEL_NAME.test(name)) throw new Error(`line ${line}: bad label name '${name}'`);
    if (name in labels) throw new Error(`line ${line}: label '${name}' twice`);
    if (s[eq + 1] !== '"') throw new Error(`line ${line}: label value not quoted`);
    let v = '';
    let j = eq + 2;
    for (; j < s.length && s[j] !== '"'; j++) {
      if (s[j] === '\\') {
        const n = s[++j];
        if (n === '\\') v += '\\';
        else if (n === '"') v += '"';
        else if (n === 'n') v += '\n';
        else throw new Error(`line ${line}: bad escape '\\${n}' in a label value`);
      } else if (s[j] === '\n') throw new Error(`line ${line}: raw newline in a label value`);
      else v += s[j];
    }
    if (s[j] !== '"') throw new Error(`line ${line}: unterminated label value`);
    labels[name] = v;
    i = j + 1;
    if (s[i] === ',') i++;
    else if (s[i] !== '}') throw new Error(`line ${line}: expected ',' or '}' after a label`);
  }
}

/** The family a sample name belongs to, given the declared families (histogram/summary suffixes). */
function familyOf(name: string, families: Map<string, Family>): Family | undefined {
  const direct = families.get(name);
  if (direct) return direct;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!name.endsWith(suffix)) continue;
    const f = families.get(name.slice(0, -suffix.length));
    if (f && (f.type === 'histogram' || (f.type === 'summary' && suffix !== '_bucket'))) return f;
  }
  return undefined;
}

function checkHistogram(f: Family): void {
  const series = new Map<string, { buckets: Array<[number, number]>; count?: number }>();
  const key = (labels: Readonly<Record<string, string>>) =>
    JSON.stringify(
      Object.entries(labels)
        .filter(([k]) => k !== 'le')
        .sort(),
    );
  for (const s of f.samples) {
    const k = key(s.labels);
    const e = series.get(k) ?? { buckets: [] };
    series.set(k, e);
    if (s.name.endsWith('_bucket')) {
      const le = s.labels.le;
      if (le === undefined) throw new Error(`${f.name}: bucket without le`);
      e.buckets.push([le === '+Inf' ? Number.POSITIVE_INFINITY : parseValue(le, 0), s.value]);
    } else if (s.name.endsWith('_count')) e.count = s.value;
  }
  for (const [k, e] of series) {
    let prev = -1;
    let prevLe = Number.NEGATIVE_INFINITY;
    for (const [le, v] of e.buckets) {
      if (le <= prevLe) throw new Error(`${f.name}${k}: buckets not in increasing le order`);
      if (v < prev) throw new Error(`${f.name}${k}: bucket counts not cumulative`);
      prev = v;
      prevLe = le;
    }
    const inf = e.buckets.at(-1);
    if (!inf || inf[0] !== Number.POSITIVE_INFINITY) throw new Error(`${f.name}${k}: no +Inf bucket`);
    if (e.count !== inf[1])
      throw new Error(`${f.name}${k}: +Inf bucket ${inf[1]} differs from _count ${e.count}`);
  }
}

/**
 * Parse a whole exposition.
 * @throws Error naming the line of the first violation.
 */
export function parsePrometheusText(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const closed = new Set<string>();
  const seen = new Set<string>();
  let last: Family | null = null;
  const lines = text.split('\n');
  if (text.length > 0 && !text.endsWith('\n')) throw new Error('the exposition does not end with a newline');
  lines.forEach((raw, idx) => {
    const n = idx + 1;
    const l = raw.trim();
    if (l === '') return;
    if (l.startsWith('#')) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s+(.*))?$/.exec(l);
      if (!m) return; // a plain comment
      const [, kind, name, rest = ''] = m;
      if (!METRIC_NAME.test(name!)) throw new Error(`line ${n}: bad metric name '${name}'`);
      if (closed.has(name!)) throw new Error(`line ${n}: family '${name}' appears twice`);
      let f = families.get(name!);
      if (!f) {
        if (last) closed.add(last.name);
        f = { name: name!, type: 'untyped', help: '', samples: [] };
        families.set(name!, f);
      } else if (f.samples.length > 0) throw new Error(`line ${n}: ${kind} for '${name}' after its samples`);
      last = f;
      if (kind === 'TYPE') {
        if (!TYPES.has(rest)) throw new Error(`line ${n}: bad type '${rest}'`);
        f.type = rest as MetricType;
      } else f.help = rest;
      return;
    }
    const nameEnd = l.search(/[{\s]/);
    if (nameEnd <= 0) throw new Error(`line ${n}: sample without a value`);
    const name = l.slice(0, nameEnd);
    if (!METRIC_NAME.test(name)) throw new Error(`line ${n}: bad metric name '${name}'`);
    let labels: Record<string, string> = {};
    let i = nameEnd;
    if (l[i] === '{') [labels, i] = parseLabels(l, i, n);
    const rest = l.slice(i).trim().split(/\s+/);
    if (rest.length < 1 || rest.length > 2 || rest[0] === '') throw new Error(`line ${n}: expected a value`);
    const value = parseValue(rest[0]!, n);
    if (rest[1] !== undefined && !/^-?\d+$/.test(rest[1])) throw new Error(`line ${n}: bad timestamp`);
    const f = familyOf(name, families);
    if (!f) throw new Error(`line ${n}: sample '${name}' before any TYPE/HELP of its family`);
    if (f !== last) throw new Error(`line ${n}: sample of '${f.name}' outside its family's block`);
    if (f.type === 'counter' && value < 0) throw new Error(`line ${n}: negative counter`);
    const id = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(id)) throw new Error(`line ${n}: duplicate series ${id}`);
    seen.add(id);
    f.samples.push({ name, labels, value });
  });
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f);
  return families;
}

/**
 * The value of the one sample named `name` whose labels include `labels`.
 * @throws Error when there is no such sample or more than one.
 */
export function sampleValue(
  families: Map<string, Family>,
  name: string,
  labels: Record<string, string> = {},
): number {
  const f = familyOf(name, families);
  const found = (f?.samples ?? []).filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  if (found.length !== 1)
    throw new Error(`expected one sample ${name}${JSON.stringify(labels)}, found ${found.length}`);
  return found[0]!.value;
}
