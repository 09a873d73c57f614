// A short chaos run in CI: a fixed seed (babeld frozen 10 s, a daemon killed
// with -9 and started again, the network split in two, an openvpn child
// killed) on 8 nodes, one behind NAT. Every fault must heal within its bound,
// no daemon may exit on its own, and every peer DB must pass integrity_check.
import test from 'ava';
import { describeFault, planChaos } from '../../lab/chaos-plan.js';
import { chaosScenario } from '../../lab/chaos.js';
import { labFor } from './fixture.js';

const SEED = 2;
const MINUTES = 3;

test.serial(`chaos: ${MINUTES} minutes of faults (seed ${SEED}) on 8 nodes heal within their bounds, no daemon exits, peer DBs intact`, async (t) => {
  t.timeout(15 * 60_000);
  // Forming the network is not under test here: a generous deadline on a loaded machine.
  const lab = await labFor(t, 'hc', { nodes: 8, nat: 1, reachTimeoutMs: 180_000 });
  const r = await chaosScenario(lab, (l) => t.log(l), { seed: SEED, minutes: MINUTES });
  // The run is the planned one: the same seed gives the same faults.
  t.deepEqual(r.plan.map((p) => p.replace(/^\d+\. /, '').replace(/ \(bound.*$/, '')), planChaos({ seed: SEED, minutes: MINUTES, nodes: lab.nodes.map((n) => n.name) }).map((s) => describeFault(s.fault)));
  t.is(r.rows.length, r.plan.length);
  for (const row of r.rows) t.true(row.ok, `step ${row.index} ${row.fault}: ${row.note || `recovered in ${row.recoveredMs} ms, bound ${row.boundMs} ms`}`);
  t.deepEqual(r.daemonExits.map((e) => `${e.node} after step ${e.afterStep}: ${e.logTail}`), []);
  t.deepEqual(r.peerDbs.filter((d) => !d.ok).map((d) => `${d.node}: ${d.result}`), []);
  t.is(r.peerDbs.length, 8);
  t.deepEqual(r.failures, []);
});
