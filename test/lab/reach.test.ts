import test from 'ava';
import { allPairs, missingPairs, parseProbeOutput, probeFrom, renderMatrix } from '../../lab/reach.js';

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

test('a probe that ran out of time leaves its silent targets unmeasured, not unreached', async (t) => {
  const node = (name: string, overlay: string) => ({ name, netns: `ns-${name}`, overlay });
  const seen: Array<number | undefined> = [];
  const runner = {
    run: async (_argv: string[], options?: { timeoutMs?: number }) => {
      seen.push(options?.timeoutMs);
      return { code: 124, stdout: 'ok fd00:0:0:2::1\nno fd00:0:0:3::1\n', stderr: 'timed out' };
    },
  };
  const res = await probeFrom(runner, node('n1', 'fd00:0:0:1::1'), [node('n2', 'fd00:0:0:2::1'), node('n3', 'fd00:0:0:3::1'), node('n4', 'fd00:0:0:4::1')]);
  t.deepEqual([...res], [['n2', true], ['n3', false]]);
  t.false(res.has('n4'));
  t.true((seen[0] ?? 0) >= 30_000);
});
