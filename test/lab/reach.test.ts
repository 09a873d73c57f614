import test from 'ava';
import { allPairs, missingPairs, parseProbeOutput, renderMatrix } from '../../lab/reach.js';

test('probe output: ok/no lines per address, junk ignored', (t) => {
  const m = parseProbeOutput('ok fd00::1\nno fd00:0:0:1::1\nPING noise\n\nok  bad line\n');
  t.deepEqual([...m], [['fd00::1', true], ['fd00:0:0:1::1', false]]);
});

test('missing pairs and the matrix text', (t) => {
  const names = ['n1', 'n2', 'n3'];
  t.is(allPairs(names).length, 6);
  const matrix = { n1: { n2: true, n3: false }, n2: { n1: true, n3: true }, n3: { n1: true } };
  t.deepEqual(missingPairs(matrix, names), [['n1', 'n3'], ['n3', 'n2']]);
  t.is(renderMatrix(matrix, names), ['from\\to   n1  n2  n3', 'n1         -   +   .', 'n2         +   -   +', 'n3         +   .   -'].join('\n'));
});
