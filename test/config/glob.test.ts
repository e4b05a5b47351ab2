import assert from 'node:assert/strict';
import { test } from 'node:test';
import { globMark, hasMagic, segmentRegExp } from '../../core/config/glob.js';
import { tempTree } from './helpers.js';

test('segment patterns: * ? [..] [!..] ranges, classes, escapes', () => {
  assert.ok(segmentRegExp('*.ini').test('a.ini'));
  assert.ok(!segmentRegExp('?.ini').test('ab.ini'));
  assert.ok(segmentRegExp('[a-c]x').test('bx'));
  assert.ok(!segmentRegExp('[!a-c]x').test('bx'));
  assert.ok(segmentRegExp('[[:digit:]]').test('7'));
  assert.ok(segmentRegExp('\\*').test('*'));
  assert.ok(!segmentRegExp('\\*').test('a'));
  assert.ok(segmentRegExp('[]]').test(']'));
  assert.ok(hasMagic('a*') && !hasMagic('a\\*b'));
});

test('globMark: sorted, directories marked with /, hidden files need a literal dot, no match → pattern', () => {
  const dir = tempTree({ 'g/b.txt': '', 'g/a.txt': '', 'g/.h': '', 'g/d/x': '', 'g/e/y': '' });
  assert.deepEqual(globMark('g/*', dir), ['g/a.txt', 'g/b.txt', 'g/d/', 'g/e/']);
  assert.deepEqual(globMark('g/.*', dir), ['g/../', 'g/./', 'g/.h']);
  assert.deepEqual(globMark('g//a.txt', dir), ['g//a.txt']);
  assert.deepEqual(globMark('g/d', dir), ['g/d/']);
  assert.deepEqual(globMark('g/*/x', dir), ['g/d/x']);
  assert.deepEqual(globMark('g/*.none', dir), ['g/*.none']);
  assert.deepEqual(globMark(`${dir}/g/[ab].txt`, '/'), [`${dir}/g/a.txt`, `${dir}/g/b.txt`]);
  assert.deepEqual(globMark('g/a.txt', dir), ['g/a.txt']);
});
