// A split that cuts a node off from every peer it has a tunnel with, while it
// shares its side with nodes it has no tunnel to: it must find them during the
// cut, not wait for the lost-link time-out (60 s) to close its dead tunnels
// (seen in a 16-node chaos run: two nodes of one half reached only each other
// for most of an 89 s split). client_count=1 keeps the topology sparse enough
// for such a node to exist in 6 nodes.
import test from 'ava';
import type { LabHandle } from '../../lab/handle.js';
import { applyPartition, describePartition } from '../../lab/partition.js';
import { labFor } from './fixture.js';

/** Within this long of the cut the cut-off node must reach every node of its side (the old planner needed > 60 s). */
const SIDE_BOUND_MS = 50_000;

/** Node → the nodes it has a tunnel with (either direction). */
async function adjacency(lab: LabHandle): Promise<Map<string, Set<string>>> {
  const adj = new Map(lab.nodes.map((n) => [n.name, new Set<string>()]));
  for (const n of lab.nodes) {
    for (const tu of await lab.tunnels(n.name)) {
      const peer = lab.nameOf(tu.peer);
      adj.get(n.name)?.add(peer);
      adj.get(peer)?.add(n.name);
    }
  }
  return adj;
}

test('a node whose every tunnel crosses a split reaches the nodes of its own side during the cut', async (t) => {
  t.timeout(10 * 60_000);
  const lab = await labFor(t, 'ss', { nodes: 6, nat: 0, registrySettings: ['client_count=1'], reachTimeoutMs: 180_000 });
  const adj = await adjacency(lab);
  const names = lab.nodes.map((n) => n.name);
  // The node with the most nodes it has no tunnel to.
  const [x, own] = names
    .map((n) => [n, names.filter((m) => m !== n && !adj.get(n)?.has(m))] as const)
    .sort((a, b) => b[1].length - a[1].length)[0]!;
  t.true(own.length > 0, `every node has a tunnel with every other: ${JSON.stringify([...adj].map(([n, s]) => [n, [...s]]))}`);
  const left = [x, ...own].sort();
  const right = names.filter((n) => !left.includes(n));
  const split = { kind: 'split' as const, left, right };
  t.log(`${x} has tunnels only with ${right.join(',')}: ${describePartition(split)}`);
  const active = await applyPartition(lab.runner, lab.manifest.layout, split, 1);
  const cutAtMs = Date.now();
  let sideMs: number | null = null;
  try {
    await lab.awaitAllPairs({ timeoutMs: SIDE_BOUND_MS, nodes: left });
    sideMs = Date.now() - cutAtMs;
    t.log(`side ${left.join(',')} reaches itself ${(sideMs / 1000).toFixed(1)} s into the cut`);
  } catch (err) {
    t.log(`side ${left.join(',')} did not reach itself within ${SIDE_BOUND_MS / 1000} s: ${(err as Error).message.split('\n')[0]}`);
  } finally {
    await active.heal();
  }
  t.not(sideMs, null, `${x} (tunnels only across the split) did not reach ${own.join(',')} within ${SIDE_BOUND_MS / 1000} s of the cut`);
  // And the whole network comes back after the heal.
  await lab.awaitAllPairs({ timeoutMs: 120_000 });
});
