import { type OptionSpec, option } from '../core/config/option.js';
import { REQUEST_RULE_OPTIONS, RESPONSE_RULE_OPTIONS } from './rules/parse.js';

/**
 * Options of internal routing (uWSGI's core routing options and its static-file options): every
 * rule option is a list whose lines keep their config order across option names (the rules are
 * read from the config's entry list), plus response headers, static files and upstream pools.
 */

const RULE_HELP: Readonly<Record<string, string>> = {
  route: 'add a rule: `REGEX ACTION:ARGS` matched against PATH_INFO',
  'route-host': 'add a rule matched against the Host header (HTTP_HOST)',
  'route-uri': 'add a rule matched against REQUEST_URI',
  'route-qs': 'add a rule matched against QUERY_STRING',
  'route-remote-addr': 'add a rule matched against REMOTE_ADDR',
  'route-user-agent': 'add a rule matched against the User-Agent header',
  'route-remote-user': 'add a rule matched against REMOTE_USER',
  'route-referer': 'add a rule matched against the Referer header',
  'route-label': 'add a label (a GOTO target)',
  'route-if':
    'add a rule on a condition: `CONDITION:SUBJECT ACTION:ARGS` (equal, startswith, regexp, isfile...)',
  'route-if-not': 'add a rule on a negated condition',
  'route-run': 'add an action that always runs: `ACTION:ARGS`',
  'route-status': 'add a rule on the response status',
};

function ruleOptions(
  names: readonly string[],
  chain: 'request' | 'response',
): Record<string, OptionSpec<string, true>> {
  const out: Record<string, OptionSpec<string, true>> = {};
  for (const name of names) {
    const base = chain === 'response' ? name.slice('response-'.length) : name;
    const help = RULE_HELP[base] ?? 'add a routing rule';
    out[name] = option.strings({
      help:
        chain === 'response'
          ? `${help.replace(/^add a/, 'add a response')} (runs on the response head)`
          : help,
    });
  }
  return out;
}

export const routingOptions = {
  ...ruleOptions(REQUEST_RULE_OPTIONS, 'request'),
  ...ruleOptions(RESPONSE_RULE_OPTIONS, 'response'),
  'add-header': option.strings({ help: 'add a header (`Name: value`) to every response' }),
  'del-header': option.strings({
    help: 'remove a header (by name) from every response',
    aliases: ['rem-header'],
  }),
  'static-map': option.strings({
    help: 'serve files: `MOUNTPOINT=DIRECTORY` (or `MOUNTPOINT=FILE`), PATH_INFO after the mountpoint is the file',
  }),
  'static-map2': option.strings({
    help: 'like static-map, with the whole PATH_INFO appended to the directory',
  }),
  'check-static': option.strings({
    help: 'serve PATH_INFO from this directory when such a file exists',
    aliases: ['static-check'],
  }),
  'static-index': option.strings({
    help: 'file to serve when a static directory is requested (e.g. index.html)',
  }),
  'static-safe': option.strings({
    help: 'a path static serving may reach through symlinks or .. even outside the configured root',
  }),
  'static-skip-ext': option.strings({ help: 'never serve static files with this extension (e.g. .py)' }),
  'honour-range': option.bool({
    help: 'answer single byte Range requests for static files with 206 (on by default in tsgi)',
    default: true,
    departure: 'on by default (uWSGI ignores Range unless honour-range is given)',
  }),
  upstream: option.strings({
    help: 'declare an upstream pool for proxy actions: `NAME NODE[*WEIGHT]... [algo=wrr|lrc|wlrc] [gracetime=S] [retries=N] [timeout=S]`',
    origin: 'extension',
  }),
} as const;
