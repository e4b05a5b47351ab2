import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OptionIndex } from '../../../core/config/option.js';
import { normalizeArgs } from '../../../emperor/main.js';
import { emperorOptions } from '../../../emperor/options.js';

test('positional arguments become --emperor sources; option values stay with their flags', () => {
  const index = new OptionIndex();
  index.add('emperor', emperorOptions);
  assert.deepEqual(
    normalizeArgs(['vassals', '--emperor-freq', '1', 'redis://h/0', '--emperor-tyrant', 'more'], index),
    [
      '--emperor',
      'vassals',
      '--emperor-freq',
      '1',
      '--emperor',
      'redis://h/0',
      '--emperor-tyrant',
      '--emperor',
      'more',
    ],
  );
  assert.deepEqual(normalizeArgs(['--emperor=/a', '/b'], index), ['--emperor=/a', '--emperor', '/b']);
});
