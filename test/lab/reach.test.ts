import test from 'ava';
import { allPairs, fpingArgs, missingPairs, parseProbeOutput, probeFrom, renderMatrix } from '../../lab/reach.js';

test('probe output: fping verdict lines per address, errors and junk ignored', (t) => {
  const m = parseProbeOutput('fd00::1 is alive\nfd00:0:0:1::1 is unreachable\nfd00::7: error while sending ping: Network is unreachable\n\nfd00::8 is  maybe\n');
  t.deepEqual([...m], [['fd00::1', true], ['fd00:0:0:1::1', false]]);
});

test('fping waits 2 s, then retries with longer waits', (t) => {
  t.deepEqual(fpingArgs(['fd00::1', 'fd00::2'], 2, 2), ['fping', '-6', '-r', '2', '-t', '2000', '-B', '1.5', 'fd00::1', 'fd00::2']);
});

test('a probe whose fping is missing says what to install, not "unreachable"', async (t) => {
  const runner = { run: async () => ({ code: 255, stdout: '', stderr: 'exec of "fping" failed: No such file or directory' }) };
  const node = (name: string, overlay: string) => ({ name, netns: `ns-${name}`, overlay });
  const err = await t.throwsAsync(probeFrom(runner, node('n1', 'fd00:0:0:1::1'), [node('n2', 'fd00:0:0:2::1')]));
  t.is((err as { code?: string }).code, 'RN_LAB_TOOL_MISSING');
  t.regex(err?.message ?? '', /apt-get install --no-install-recommends fping/);
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
      return { code: 124, stdout: 'fd00:0:0:2::1 is alive\nfd00:0:0:3::1 is unreachable\n', stderr: 'timed out' };
    },
  };
  const res = await probeFrom(runner, node('n1', 'fd00:0:0:1::1'), [node('n2', 'fd00:0:0:2::1'), node('n3', 'fd00:0:0:3::1'), node('n4', 'fd00:0:0:4::1')]);
  t.deepEqual([...res], [['n2', true], ['n3', false]]);
  t.false(res.has('n4'));
  t.true((seen[0] ?? 0) >= 30_000);
});
