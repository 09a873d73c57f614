// Partitions heal (issue "self-healing under stress", 4a and 4b) in CI form: a
// shorter cut than the 5 minutes of `resilnet lab scenario partition-node`, on a
// network that re-plans its tunnels every 10 s, so that within the cut the nodes
// try their peers often enough to mark them dead (3 failed attempts) as a long
// outage would. After the heal every pair must reach again within 30 s.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import type { PartitionResult } from '../../lab/partition-scenario.js';
import { partitionHalvesScenario, partitionNodeScenario } from '../../lab/partition-scenario.js';
import { recoveryText } from '../../lab/recovery.js';
import { labFor } from './fixture.js';

const CUT_SECONDS = 90;
const BOUND_MS = 30_000;
// Measured a minute past the bound, so a failure says how far off it was.
const CAP_MS = 90_000;
const LAB = { nodes: 4, nat: 1, registrySettings: ['tunnel_refresh=10'], reachTimeoutMs: 180_000 };

function assertHealed(t: ExecutionContext, r: PartitionResult): void {
  for (const s of r.sides) t.not(s.reachedMs, null, `nodes ${s.nodes.join(',')} did not all reach each other during the cut`);
  t.deepEqual(r.recovery.daemonsDown, [], 'daemons that are not running after the heal');
  t.not(r.recovery.recoveredMs, null, recoveryText(r.recovery, CAP_MS));
  t.true(r.recovery.withinBound, recoveryText(r.recovery, CAP_MS));
  t.deepEqual(r.failures, []);
}

test.serial(`partition heal: one node's underlay cut completely for ${CUT_SECONDS} s; every pair reaches within 30 s of the heal`, async (t) => {
  t.timeout(12 * 60_000);
  const lab = await labFor(t, 'hp', LAB);
  const r = await partitionNodeScenario(lab, (l) => t.log(l), 'n2', { cutSeconds: CUT_SECONDS, boundMs: BOUND_MS, capMs: CAP_MS });
  t.deepEqual(r.partition, { kind: 'isolate', node: 'n2' });
  assertHealed(t, r);
});

test.serial(`partition heal: the network split into two halves for ${CUT_SECONDS} s; every pair reaches within 30 s of the heal`, async (t) => {
  t.timeout(12 * 60_000);
  const lab = await labFor(t, 'hh', LAB);
  const r = await partitionHalvesScenario(lab, (l) => t.log(l), { cutSeconds: CUT_SECONDS, boundMs: BOUND_MS, capMs: CAP_MS });
  t.deepEqual(r.partition, { kind: 'split', left: ['n1', 'n2'], right: ['n3', 'n4'] });
  assertHealed(t, r);
});
