import { ConfigError, type ConfigOrigin } from '../errors.js';
import { compileStrftime } from './strftime.js';

/**
 * uWSGI's log encoders (`log-encoder = <name>[ args]`, uWSGI docs "Log encoders", core/logging.c):
 * each takes a log record and returns a new one; several run in a chain, in config order. A record is
 * one line with its trailing newline, as uWSGI passes it.
 *
 * - `prefix TEXT`, `suffix TEXT`: add TEXT before / after the record (after means after the newline,
 *   as in uWSGI);
 * - `nl`: add a newline;
 * - `format TEMPLATE`: TEMPLATE with `${msg}` (the record without its newline), `${msgnl}` (with it),
 *   `${unix}` (epoch seconds), `${millis}`, `${micros}` (epoch ms / µs), `${strftime:FMT}` (local
 *   time, C strftime);
 * - `json TEMPLATE`: the same, with `${msg}`, `${msgnl}` and `${strftime:...}` escaped for a JSON
 *   string (every control character, `"` and `\`), so a template such as
 *   `{"unix":${unix},"msg":"${msg}"}` gives one valid JSON object per line.
 */
export interface LogEncoder {
  /** The option value as written, e.g. `json {"msg":"${msg}"}`. */
  readonly spec: string;
  /** Transform one record. `nowMs` is the wall clock (ms since the epoch) of the record. */
  apply(record: string, nowMs: number): string;
}

type Piece = string | ((record: string, nowMs: number) => string);

const jsonEscape = (s: string): string => JSON.stringify(s).slice(1, -1);
const stripNl = (s: string): string => (s.endsWith('\n') ? s.slice(0, -1) : s);

/** Split a template into literal text and `${name}` variables (a `$` not followed by `{`, or an unclosed `${`, is text). */
function templatePieces(template: string, json: boolean, bad: (message: string) => ConfigError): Piece[] {
  const esc = json ? jsonEscape : (s: string) => s;
  const pieces: Piece[] = [];
  let lit = '';
  let i = 0;
  while (i < template.length) {
    const open = template.indexOf('${', i);
    const close = open === -1 ? -1 : template.indexOf('}', open + 2);
    if (open === -1 || close === -1) {
      lit += template.slice(i);
      break;
    }
    lit += template.slice(i, open);
    const name = template.slice(open + 2, close);
    let piece: Piece;
    if (name === 'msg') piece = (r) => esc(stripNl(r));
    else if (name === 'msgnl') piece = (r) => esc(r);
    else if (name === 'unix') piece = (_r, now) => String(Math.floor(now / 1000));
    else if (name === 'millis') piece = (_r, now) => String(Math.floor(now));
    else if (name === 'micros') piece = (_r, now) => String(Math.floor(now * 1000));
    else if (name.startsWith('strftime:')) {
      const fmt = compileStrftime(name.slice(9));
      piece = (_r, now) => esc(fmt(new Date(now)));
    } else
      throw bad(`unknown variable \${${name}} (known: msg, msgnl, unix, millis, micros, strftime:FORMAT)`);
    if (lit) pieces.push(lit);
    lit = '';
    pieces.push(piece);
    i = close + 1;
  }
  if (lit) pieces.push(lit);
  return pieces;
}

/**
 * Parse one `log-encoder` value.
 * @throws {ConfigError} TSGI_ERR_CONFIG_VALUE for an unknown encoder, an encoder aimed at a named
 * logger (`json:name`: tsgi has one log), or an unknown `${variable}` in a template.
 */
export function parseLogEncoder(text: string, option: string, origin: ConfigOrigin): LogEncoder {
  const bad = (message: string) => new ConfigError('TSGI_ERR_CONFIG_VALUE', message, origin, option);
  const space = text.indexOf(' ');
  const head = space === -1 ? text : text.slice(0, space);
  const args = space === -1 ? '' : text.slice(space + 1);
  const colon = head.indexOf(':');
  const name = colon === -1 ? head : head.slice(0, colon);
  if (colon !== -1)
    throw bad(
      `'${head}' sends the encoder to the named logger '${head.slice(colon + 1)}'; tsgi has one log, write '${name}' alone`,
    );
  switch (name) {
    case 'prefix':
      return { spec: text, apply: (r) => args + r };
    case 'suffix':
      return { spec: text, apply: (r) => r + args };
    case 'nl':
      return { spec: text, apply: (r) => `${r}\n` };
    case 'format':
    case 'json': {
      const pieces = templatePieces(args, name === 'json', bad);
      return {
        spec: text,
        apply(r, now) {
          let out = '';
          for (const p of pieces) out += typeof p === 'string' ? p : p(r, now);
          return out;
        },
      };
    }
    default:
      throw bad(`unknown log encoder '${name}' (tsgi has prefix, suffix, nl, format and json)`);
  }
}

/**
 * Compose encoders into one function from a line (no newline) to the record to write, which always
 * ends with exactly the newline the chain left, or one added when the chain left none (uWSGI would run
 * records together on one line). Returns null for an empty chain.
 */
export function encoderChain(encoders: readonly LogEncoder[]): ((line: string) => string) | null {
  if (encoders.length === 0) return null;
  return (line) => {
    const now = Date.now();
    let r = `${line}\n`;
    for (const e of encoders) r = e.apply(r, now);
    return r.endsWith('\n') ? r : `${r}\n`;
  };
}
