import test from 'ava';
import { waitForAllPairs } from '../../lab/converge.js';
import type { LabManifest } from '../../lab/manifest.js';

test('a lab of one node has no pair to wait for: converged at once, with a time, and nothing probed', async (t) => {
  const m = { nodes: [{ name: 'n1', netns: 'ns-n1', overlay: 'fd00::1' }], processes: [] } as unknown as LabManifest;
  const calls: string[][] = [];
  const runner = { run: async (argv: string[]) => (calls.push(argv), { code: 0, stdout: '', stderr: '' }) };
  const before = Date.now();
  const r = await waitForAllPairs(runner, m, { timeoutMs: 60_000 });
  t.true(Number.isFinite(r.allReachedAtMs) && r.allReachedAtMs >= before);
  t.true(r.elapsedMs >= 0);
  t.deepEqual(calls, []);
});
