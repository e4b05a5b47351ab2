// biome-ignore-all lint/suspicious/noTemplateCurlyInString: uWSGI rule syntax uses ${VAR}
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { cookieValue, queryValue } from '../../../router/rules/route-vars.js';
import {
  type ExpandContext,
  expandGroups,
  expandVariables,
  Template,
} from '../../../router/rules/template.js';

function ctx(vars: Record<string, string>, groups: string[] | null = null, count = 0): ExpandContext {
  return {
    variable: (n) => vars[n],
    routeVariable: (name, arg) => (name === 'upper' ? (vars[arg] ?? '').toUpperCase() : undefined),
    groups,
    groupCount: count,
  };
}

test('$N: groups of the match, empty beyond the pattern, $x kept, trailing $ dropped', () => {
  const c = ctx({}, ['/a/b', 'a', 'b'], 2);
  assert.equal(expandGroups('[$0][$1][$2][$3][$9]', c), '[/a/b][a][b][][]');
  assert.equal(expandGroups('cost $x and $$ end$', c), 'cost $x and $$ end');
  assert.equal(expandGroups('no dollar', c), 'no dollar');
  assert.equal(expandGroups('$1', ctx({}, ['x', undefined as unknown as string], 1)), '');
});

test('${VAR}: request vars, route variables, unknown and unterminated', () => {
  const c = ctx({ PATH_INFO: '/p', 'weird[x]': 'w' });
  assert.equal(expandVariables('${PATH_INFO}|${NOPE}|${upper[PATH_INFO]}', c), '/p||/P');
  assert.equal(expandVariables('${weird[x]}', c), 'w');
  assert.equal(expandVariables('tail ${PATH_INFO', c), 'tail ${PATH_INFO');
  assert.equal(expandVariables('$ and $a and $', c), '$ and $a and $');
});

test('templates: constants cost nothing; conditions expand without groups', () => {
  const t = Template.of('plain');
  assert.ok(t.isConstant);
  const c = ctx({ A: '1' }, ['m', 'g'], 1);
  assert.equal(Template.of('$1-${A}').expand(c), 'g-1');
  assert.equal(Template.of('$1-${A}').expand(c, false), '$1-1');
});

test('captured text that looks like a variable is expanded too (uWSGI order)', () => {
  const c = ctx({ SECRET: 's' }, ['${SECRET}', '${SECRET}'], 1);
  assert.equal(Template.of('x$1').expand(c), 'xs');
});

test('cookie and qs route variables', () => {
  assert.equal(cookieValue('a=1; b=2;  c = 3', 'b'), '2');
  assert.equal(cookieValue('a=; b=2', 'a'), null);
  assert.equal(cookieValue('', 'a'), null);
  assert.equal(queryValue('x=1&y=&z=3', 'z'), '3');
  assert.equal(queryValue('x=1&y=&z=3', 'y'), null);
  assert.equal(queryValue('x=%20', 'x'), '%20');
});

test("compiled templates expand exactly as uWSGI's two passes (property)", () => {
  const vars: Record<string, string> = { A: 'a', B: '$1', C: '${A}', 'q[x]': 'raw' };
  const pieces = [
    '$',
    '{',
    '}',
    '[',
    ']',
    '1',
    '2',
    '0',
    'A',
    'B',
    'C',
    'q',
    'x',
    'upper',
    '-',
    '${A}',
    '${B}',
    '$1',
    '${upper[A]}',
  ];
  fc.assert(
    fc.property(
      fc.array(fc.constantFrom(...pieces), { maxLength: 12 }),
      fc.array(fc.constantFrom('g', '$', '${A}', '', '}', '$1'), { minLength: 1, maxLength: 3 }),
      fc.boolean(),
      (parts, groups, withGroups) => {
        const text = parts.join('');
        const c = ctx(vars, ['whole', ...groups], groups.length);
        const slow = expandVariables(withGroups ? expandGroups(text, c) : text, c);
        assert.equal(
          Template.of(text).expand(c, withGroups),
          slow,
          JSON.stringify({ text, groups, withGroups }),
        );
      },
    ),
    { numRuns: 3000 },
  );
});
