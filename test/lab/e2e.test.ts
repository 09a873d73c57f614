// End to end: whole networks in namespaces with the real registry, `resilnet
// register` and daemons (openvpn, babeld, miniupnpd). A lab is built for one
// test, or for two in a row that leave it as they found it (sharedLab), and is
// always removed (also when ava stops the file: the lab is guarded against SIGTERM). The scenarios' measured facts are asserted against generous
// bounds, so a broken behaviour fails with what was seen.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import test from 'ava';
import { BOUNDS, crashScenario, failoverScenario, registryOutageScenario, revocationScenario, trafficScenario } from '../../lab/scenarios.js';
import { isRunning } from '../../lab/procs.js';
import { labFor, sharedLab, unreachable } from './fixture.js';

const run = promisify(execFile);

async function labNamespaces(id: string): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list']);
  return stdout.split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith(`rn${id}-`));
}

test.serial('convergence: the default lab (6 nodes, 1 behind NAT) reaches all pairs', async (t) => {
  const lab = await labFor(t, 'e');
  t.is(lab.nodes.length, 6);
  t.is(lab.nodes.filter((n) => n.gateway).length, 1);
  t.deepEqual(await unreachable(lab), []);
  const status = await lab.cliJson<{ address: string; prefix: string }>('n1', 'status');
  t.is(status.address, lab.node('n1').overlay as string);
});

// Failover, then revocation on the same lab: the frozen openvpn ends are thawed and
// restarted, and the revocation scenario looks only at what follows the revocation.
// Short heartbeats: the online nodes hear of the revocation from the registry sooner.
const fiveNodes = sharedLab(test, 'e', { nodes: 5, nat: 0, nodeConfigPatch: () => ({ registry: { heartbeat_interval: 5 } }) });
// Registry outage, then crash on the same lab: the outage ends with all pairs reaching
// and the registry is started again before the crash; the crash test removes the lab.
const fourNodes = sharedLab(test, 'e', { nodes: 4, nat: 1 });

test.serial('failover: a silently frozen tunnel under a continuous ping; traffic resumes over another path', async (t) => {
  const lab = await fiveNodes(t);
  const r = await failoverScenario(lab, (l) => t.log(l), 'freeze');
  t.log(`outage ${r.outageMs} ms, ${r.lostPackets} packets lost (20 Hz), route now via ${r.routeAfter}`);
  t.not(r.outageMs, null, 'the ping never resumed after the cut');
  t.true((r.outageMs as number) <= BOUNDS.failoverOutageMs, `outage ${r.outageMs} ms`);
  t.truthy(r.routeAfter, 'a route to the far node after the cut');
  t.deepEqual(r.failures, []);
});

test.serial('revocation: nobody keeps a tunnel with the revoked node; an offline node learns it from peers', async (t) => {
  const lab = await fiveNodes(t, { last: true });
  const r = await revocationScenario(lab, (l) => t.log(l), 'n2', 'n3');
  t.not(r.dropMs, null, `the network did not drop n2: ${r.summary}`);
  t.true((r.offlineVersion as number) >= (r.version as number), `n3 runs config v${r.offlineVersion}, the revocation is v${r.version}`);
  t.deepEqual(r.failures, []);
  for (const n of ['n1', 'n3', 'n4', 'n5']) t.false(await lab.ping('n2', n), `n2 must not reach ${n}`);
});

test.serial('registry outage: all pairs still reach; a restarted daemon rejoins from its peer DB alone', async (t) => {
  const lab = await fourNodes(t);
  const r = await registryOutageScenario(lab, (l) => t.log(l), 'n2');
  t.is(r.reachedDuringOutage, r.pairs, 'pairs reaching while the registry is down');
  t.not(r.rejoinMs, null, `n2 did not rejoin: ${r.summary}`);
  t.true((r.rejoinMs as number) <= BOUNDS.rejoinMs, `rejoin ${r.rejoinMs} ms`);
  t.deepEqual(r.failures, []);
  t.deepEqual(await unreachable(lab), []);
});

test.serial('crash: kill -9 a daemon; the new one cleans up the stale children and rejoins; lab down leaves nothing', async (t) => {
  const lab = await fourNodes(t, { last: true });
  await lab.startRegistry();
  const r = await crashScenario(lab, (l) => t.log(l), 'n2');
  t.true((r.staleChildren as number) > 0, 'openvpn/babeld survived the kill -9');
  t.not(r.staleCleanedMs, null, 'the new daemon stopped the stale children');
  t.not(r.rejoinMs, null, `n2 did not rejoin: ${r.summary}`);
  t.deepEqual(r.failures, []);
  const procs = [...lab.manifest.processes];
  await lab.down();
  t.deepEqual(await labNamespaces(lab.id), []);
  for (const p of procs) t.false(isRunning(p), `${p.role} ${p.host} pid ${p.pid}`);
});

test.serial('traffic-aware selection: steady traffic between non-adjacent nodes gets (or keeps) the tunnel that carries it', async (t) => {
  const lab = await labFor(t, 'e', { nodes: 6, nat: 0, registrySettings: ['client_count=2', 'tunnel_refresh=5'] });
  const r = await trafficScenario(lab, (l) => t.log(l));
  for (const e of r.events as string[]) t.log(`event: ${e}`);
  if (r.direct === true) {
    t.true((r.directEvents as string[]).length > 0, 'the events show the direct tunnel being established');
  } else {
    t.true(r.kept === true, 'the carrying tunnel stayed');
    t.true((r.replaced as number) > 0, 'while the tunnel managers replaced other tunnels');
  }
  t.deepEqual(r.failures, []);
});
