import assert from 'node:assert/strict';
import { test } from 'node:test';
import { iniSectionNames, iniTrim, readIniSection } from '../../core/config/ini-parse.js';

const kv = (text: string, section = 'uwsgi') =>
  readIniSection(text, section).map((l) => [l.key, l.value, l.line]);

test('key = value lines of the asked section only, with 1-based lines', () => {
  assert.deepEqual(kv('x = 0\n[uwsgi]\na = 1\n[other]\nb = 2\n[uwsgi]\nc = 3\n'), [
    ['a', '1', 3],
    ['c', '3', 7],
  ]);
  assert.deepEqual(kv('[uwsgi]\na = 1\n[other]\nb = 2\n', 'other'), [['b', '2', 4]]);
});

test('split at the first =, trimming spaces, tabs and CR on both sides; quotes and inline ; # kept', () => {
  assert.deepEqual(kv('[uwsgi]\n \t k \t= \t v=w ; x # y \t\r\n'), [['k', 'v=w ; x # y', 2]]);
  assert.deepEqual(kv('[uwsgi]\nq = "a b"\n'), [['q', '"a b"', 2]]);
});

test('bare keys have the empty value; =value has the empty key; empty values stay empty', () => {
  assert.deepEqual(kv('[uwsgi]\nmaster\n=v\nempty =\n'), [
    ['master', '', 2],
    ['', 'v', 3],
    ['empty', '', 4],
  ]);
});

test('only lines starting with ; or # (after trimming) are comments', () => {
  assert.deepEqual(kv('[uwsgi]\n; c\n  # c\nk = v;w\n'), [['k', 'v;w', 4]]);
});

test('a section header is [ + the line minus its last char: exact [name] only', () => {
  assert.deepEqual(iniSectionNames('[uwsgi]\n[ uwsgi ]\n[uwsgi]x\n[]\n[a]  \n'), [
    'uwsgi',
    ' uwsgi ',
    'uwsgi]',
    '',
    'a',
  ]);
  assert.deepEqual(kv('[uwsgi]x\na = 1\n'), []);
});

test('a NUL byte ends the line; the last line needs no newline', () => {
  assert.deepEqual(kv('[uwsgi]\na = b\0c\nd = e'), [
    ['a', 'b', 2],
    ['d', 'e', 3],
  ]);
});

test('iniTrim trims only space, tab and CR', () => {
  assert.equal(iniTrim(' \t\r a \v\r\t '), 'a \v');
});
