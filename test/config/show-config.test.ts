import assert from 'node:assert/strict';
import { test } from 'node:test';
import { extractShowConfig, formatShowConfig } from '../../core/config/ini-reader.js';

const o = { source: 'argv', file: null, line: 1 } as const;

test('formatShowConfig prints uWSGI block bytes', () => {
  assert.equal(
    formatShowConfig([
      { key: 'master', value: 'true', origin: o },
      { key: 'empty', value: '', origin: o },
    ]),
    '\n;uWSGI instance configuration\n[uwsgi]\nmaster = true\nempty = \n;end of configuration\n\n',
  );
  assert.equal(formatShowConfig([]), '\n;uWSGI instance configuration\n[uwsgi]\n;end of configuration\n\n');
});

test('extractShowConfig cuts the block out of a log', () => {
  const block = formatShowConfig([{ key: 'a', value: 'b', origin: o }]);
  assert.equal(
    extractShowConfig(`[uWSGI] getting INI configuration from x\n${block}*** Starting ***\n`),
    block,
  );
  assert.equal(extractShowConfig('nothing'), null);
});
