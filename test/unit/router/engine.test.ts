// biome-ignore-all lint/suspicious/noTemplateCurlyInString: uWSGI rule syntax uses ${VAR}
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ConfigEntry } from '../../../core/config/types.js';
import { BASIC_ACTIONS, UNSUPPORTED_ACTIONS } from '../../../router/actions/basic.js';
import { RouteContext } from '../../../router/rules/context.js';
import { responseRunner, runChain } from '../../../router/rules/engine.js';
import { parseRules } from '../../../router/rules/parse.js';
import { BREAK, CONTINUE } from '../../../router/rules/rule.js';
import { RouterServices } from '../../../router/services.js';
import { MemorySink, memoryLogger, request } from './helpers.js';

const log = memoryLogger();
const services = new RouterServices({ index: [], safe: [], skipExt: [], honourRange: true }, {}, log);

function rules(lines: Array<[string, string]>) {
  const entries: ConfigEntry[] = lines.map(([key, value], i) => ({
    key,
    value,
    origin: { file: 'app.ini', line: i + 1, source: 'ini' },
  }));
  return parseRules(
    entries,
    { request: BASIC_ACTIONS, response: BASIC_ACTIONS },
    UNSUPPORTED_ACTIONS,
    services,
    log,
  );
}

function run(lines: Array<[string, string]>, vars: Record<string, string>) {
  const set = rules(lines);
  const sink = new MemorySink();
  const shaping = {
    addHeaders: [],
    removeHeaders: [],
    responseRules: set.response,
    runResponse: responseRunner(set.response),
  };
  const ctx = new RouteContext(request(vars), sink, shaping, log);
  const verdict = runChain(set.request, ctx);
  return { verdict, ctx, sink };
}

test('rules run in order; a non-matching rule is NEXT; falling off the end is CONTINUE', () => {
  const r = run(
    [
      ['route', '^/nope addvar:A=1'],
      ['route', '^/yes/(.*)$ addvar:B=$1'],
      ['route-run', 'addvar:C=${B}!'],
    ],
    { PATH_INFO: '/yes/x' },
  );
  assert.equal(r.verdict, CONTINUE);
  assert.equal(r.ctx.req.vars.get('A'), undefined);
  assert.equal(r.ctx.req.vars.get('C'), 'x!');
});

test('GOTO skips forward to a label; a backward GOTO breaks with a log line', () => {
  const r = run(
    [
      ['route-run', 'goto:end'],
      ['route-run', 'addvar:SKIPPED=1'],
      ['route-label', 'end'],
      ['route-run', 'addvar:AFTER=1'],
    ],
    {},
  );
  assert.equal(r.ctx.req.vars.get('SKIPPED'), undefined);
  assert.equal(r.ctx.req.vars.get('AFTER'), '1');
  const back = run(
    [
      ['route-label', 'top'],
      ['route-run', 'goto:top'],
    ],
    {},
  );
  assert.equal(back.verdict, BREAK);
  assert.ok(log.lines.some((l) => l.includes('can only jump forward')));
});

test("a response rule sees the status and adds headers after the app's", () => {
  const r = run(
    [
      ['route-run', 'addheader:X-Req: 1'],
      ['response-route-status', '404 addheader:X-NF: yes'],
      ['response-route-run', 'addheader:X-Resp: ${uwsgi[status]}'],
      ['route-run', 'delheader:X-Drop'],
    ],
    {},
  );
  r.ctx.sink.head(404, 'Not Found', ['X-Drop', 'a', 'X-App', 'b'], 0);
  assert.deepEqual(r.sink.headers, ['X-App', 'b', 'X-Req', '1', 'X-NF', 'yes', 'X-Resp', '404']);
});

test('bad rules fail with file, line, option and the wrong part', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['route', '^/x', /expected '<regex> <action>'/],
    ['route', '^/x nocolon', /expected an action 'name:arguments'/],
    ['route', '^/x frobnicate:1', /unknown action 'frobnicate'/],
    ['route', '^/x signal:1', /'signal' is a uWSGI action tsgi does not support/],
    ['route', '(bad regex:1', /bad regex '\(bad'/],
    ['route-if', 'nosuch:x continue:', /unknown route condition 'nosuch'/],
    ['route-if', 'equal:nosemicolon continue:', /needs two operands/],
    ['route-if', 'regexp:${X};(a continue:', /bad regex/],
    ['route', '^/x addvar:NOEQUALS', /addvar: expected KEY=VALUE/],
    ['route', '^/x return:999', /not a status code uWSGI knows/],
    ['response-route-status', 'abc continue:', /'abc' is not a status code/],
    ['route-label', '', /a label needs a name/],
  ];
  for (const [key, value, re] of cases)
    assert.throws(
      () =>
        rules([
          ['route-run', 'continue:'],
          [key, value],
        ]),
      (err: Error & { code?: string }) =>
        err.code === 'TSGI_ERR_CONFIG_ROUTE' &&
        err.message.startsWith(`app.ini:2: option '${key}': `) &&
        re.test(err.message),
      `${key} = ${value}`,
    );
});

test('a condition that cannot be evaluated breaks the chain', () => {
  const r = run([['route-if', 'ipv4in:${REMOTE_ADDR}${REMOTE_ADDR}${REMOTE_ADDR};1.2.3.4 addvar:X=1']], {});
  assert.equal(r.verdict, BREAK);
});
