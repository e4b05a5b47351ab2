import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encoderChain, parseLogEncoder } from '../../../core/log/encoders.js';
import { compileStrftime } from '../../../core/log/strftime.js';

const origin = { file: 'app.ini', line: 7, source: 'ini' as const };
const chain = (...specs: string[]) =>
  encoderChain(specs.map((s) => parseLogEncoder(s, 'log-encoder', origin)))!;

describe('log encoders (uWSGI log-encoder)', () => {
  test('json: escapes the message into a valid JSON string; one record per line', () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: uWSGI's encoder template syntax
    const enc = chain('json {"msg":"${msg}","nl":"${msgnl}"}');
    const out = enc('a "quoted" \\ line\twith\x01control');
    assert.ok(out.endsWith('}\n'));
    assert.deepEqual(JSON.parse(out), {
      msg: 'a "quoted" \\ line\twith\x01control',
      nl: 'a "quoted" \\ line\twith\x01control\n',
    });
  });

  test("format, prefix, suffix and nl, in order, with uWSGI's record semantics", () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: uWSGI's encoder template syntax
    assert.equal(chain('format <${msg}>')('x'), '<x>\n');
    assert.equal(chain('prefix P: ')('x'), 'P: x\n');
    assert.equal(chain('suffix !')('x'), 'x\n!\n', "uWSGI's suffix goes after the record's newline");
    // biome-ignore lint/suspicious/noTemplateCurlyInString: uWSGI's encoder template syntax
    assert.equal(chain('format ${msg}', 'nl')('x'), 'x\n', 'no extra newline when the chain ends with one');
    // biome-ignore lint/suspicious/noTemplateCurlyInString: uWSGI's encoder template syntax
    assert.equal(chain('format ${msg}', 'nl', 'nl')('x'), 'x\n\n');
  });

  test('time variables', () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: uWSGI's encoder template syntax
    const out = chain('format ${unix} ${millis} ${micros} ${strftime:%Y-%m-%d}')('x');
    const [unix, millis, micros, date] = out.trim().split(' ');
    assert.equal(Math.floor(Number(millis) / 1000), Number(unix));
    assert.equal(Math.floor(Number(micros) / 1000), Number(millis));
    assert.match(date!, /^\d{4}-\d\d-\d\d$/);
  });

  test('literal $ and unclosed ${ stay text', () => {
    assert.equal(chain('format $5 ${unclosed')('x'), '$5 ${unclosed\n');
  });

  test('errors name the file, line and option', () => {
    assert.throws(
      () => parseLogEncoder('gzip', 'log-encoder', origin),
      /app\.ini:7: option 'log-encoder': unknown log encoder 'gzip'/,
    );
    // biome-ignore lint/suspicious/noTemplateCurlyInString: uWSGI's encoder template syntax
    const unknownVar = 'json {"a":"${nope}"}';
    assert.throws(() => parseLogEncoder(unknownVar, 'log-encoder', origin), /unknown variable \$\{nope\}/);
    assert.throws(() => parseLogEncoder('json:req {}', 'log-encoder', origin), /named logger 'req'/);
  });

  test('an empty chain is no encoder', () => {
    assert.equal(encoderChain([]), null);
  });
});

describe('strftime', () => {
  test('C conversions in local time; unknown ones copied', () => {
    const d = new Date(2026, 10, 21, 9, 5, 7);
    assert.equal(
      compileStrftime('%Y-%m-%d %H:%M:%S %a %b %e %j %y %I%p %%')(d),
      '2026-11-21 09:05:07 Sat Nov 21 325 26 09AM %',
    );
    assert.equal(compileStrftime('%F %T %Q')(d), '2026-11-21 09:05:07 %Q');
    assert.match(compileStrftime('%z')(d), /^[+-]\d{4}$/);
  });
});
