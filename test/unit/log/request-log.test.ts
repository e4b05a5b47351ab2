import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  compileLogFormat,
  defaultRequestLine,
  logText,
  type RequestLogEntry,
} from '../../../core/log/request-log.js';
import { TsgiRequest } from '../../../core/request/request.js';

function entry(over: Partial<RequestLogEntry> = {}, vars: Record<string, string> = {}): RequestLogEntry {
  const req = new TsgiRequest(
    new Map(
      Object.entries({
        REQUEST_METHOD: 'GET',
        REQUEST_URI: '/a?b=1',
        SERVER_PROTOCOL: 'HTTP/1.1',
        REMOTE_ADDR: '10.0.0.1',
        HTTP_HOST: 'example.test',
        ...vars,
      }),
    ),
    null,
    0,
    'http',
  );
  req.status = 201;
  req.bytesOut = 12;
  req.headerCount = 2;
  req.headerBytes = 64;
  return {
    req,
    durationUs: 3456,
    workerId: 2,
    workerPid: 4242,
    workerRequests: 5,
    totalRequests: 17,
    addr: '10.0.0.1',
    writeErrors: 0,
    memory: { rss: 3 * 1048576, vsz: 100 * 1048576, uss: 0, pss: 0 },
    ...over,
  };
}

describe('log-format', () => {
  test("uWSGI's variables", () => {
    const f = compileLogFormat(
      '%(method) %(uri) %(proto) %(status) %(rsize) %(hsize) %(size) %(headers) %(msecs) %(micros) %(secs)',
    );
    assert.equal(f.render(entry()), 'GET /a?b=1 HTTP/1.1 201 12 64 76 2 3 3456 0.003456');
    assert.equal(
      compileLogFormat('%(pid) %(wid) %(vars) %(core) %(switches) %(modifier1)').render(entry()),
      '4242 2 10 0 1 0',
    );
    assert.equal(compileLogFormat('%(rssM) %(vszM)').needsMemory, true);
    assert.equal(compileLogFormat('%(rssM) %(vszM)').render(entry()), '3 100');
    assert.equal(compileLogFormat('%(uri)').needsMemory, false);
  });

  test('empty or missing values log "-"; var.NAME reads any request var; unknown names are app log vars', () => {
    const f = compileLogFormat('[%(user)] [%(referer)] [%(var.HTTP_HOST)] [%(var.NOPE)] [%(whatever)]');
    assert.equal(f.render(entry()), '[-] [-] [example.test] [-] [-]');
  });

  test("uWSGI's parser: %%(x), %x(y), unterminated %( and a ) with no variable open", () => {
    assert.equal(compileLogFormat('%%(uri)|%x(y)|a)b|end%(').render(entry()), '%/a?b=1|%x(y)|a)b|end%(');
    assert.equal(compileLogFormat('no variables').render(entry()), 'no variables');
    assert.equal(compileLogFormat('%(uri)%(method)').render(entry()), '/a?b=1GET');
  });

  test('%(metric.*) is refused with the option named', () => {
    assert.throws(() => compileLogFormat('%(metric.core.busy)'), /option 'log-format'.*prometheus/);
  });

  test('request bytes are shown as UTF-8 text; invalid sequences become U+FFFD', () => {
    assert.equal(logText('caf\xc3\xa9'), 'café');
    assert.equal(logText('x\xff'), 'x\ufffd');
    assert.equal(logText('plain'), 'plain');
    assert.equal(compileLogFormat('%(var.HTTP_X)').render(entry({}, { HTTP_X: '\xe2\x9c\x93' })), '✓');
  });
});

describe("uWSGI's default request line", () => {
  test('shape, counts and the msecs truncation', () => {
    const l = defaultRequestLine(entry(), { micros: false, memoryReport: 0 });
    assert.match(
      l,
      /^\[pid: 4242\|app: 0\|req: 5\/17\] 10\.0\.0\.1 \(\) \{10 vars in \d+ bytes\} \[\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\] GET \/a\?b=1 => generated 12 bytes in 3 msecs \(HTTP\/1\.1 201\) 2 headers in 64 bytes \(1 switches on core 0\)$/,
    );
  });

  test('log-micros and memory-report', () => {
    assert.match(defaultRequestLine(entry(), { micros: true, memoryReport: 0 }), / in 3456 micros /);
    assert.match(
      defaultRequestLine(entry(), { micros: false, memoryReport: 1 }),
      /^\{address space usage: 104857600 bytes\/100MB\} \{rss usage: 3145728 bytes\/3MB\} \[pid: /,
    );
  });
});
