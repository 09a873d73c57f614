// End to end: whole networks in namespaces with the real registry, `resilnet
// register` and daemons (openvpn, babeld, miniupnpd). Every test builds its own
// lab and always removes it. Figures (outages, times) are reported with t.log,
// never asserted.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { LabHandle } from '../../lab/handle.js';
import type { LabUpOptions } from '../../lab/lab.js';
import { crashScenario, failoverScenario, registryOutageScenario, revocationScenario, trafficScenario } from '../../lab/scenarios.js';
import { isRunning } from '../../lab/procs.js';
import { labDir } from '../../lab/manifest.js';

const run = promisify(execFile);

async function labFor(t: ExecutionContext, options: LabUpOptions = {}): Promise<LabHandle> {
  const id = `e${randomBytes(3).toString('hex')}`;
  let lab: LabHandle | undefined;
  t.teardown(async () => {
    if (lab && existsSync(labDir(lab.id))) await lab.down();
  });
  lab = await LabHandle.up({ id, log: (line) => t.log(`[${id}] ${line}`), ...options });
  return lab;
}

/** Ordered pairs that do not reach each other right now. */
async function unreachable(lab: LabHandle, names = lab.nodes.map((n) => n.name)): Promise<string[]> {
  const matrix = await lab.matrix(names);
  return names.flatMap((a) => names.filter((b) => b !== a && matrix[a]?.[b] !== true).map((b) => `${a}->${b}`));
}

async function labNamespaces(id: string): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list']);
  return stdout.split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith(`rn${id}-`));
}

test.serial('convergence: the default lab (6 nodes, 1 behind NAT) reaches all pairs', async (t) => {
  const lab = await labFor(t);
  t.is(lab.nodes.length, 6);
  t.is(lab.nodes.filter((n) => n.gateway).length, 1);
  t.deepEqual(await unreachable(lab), []);
  const status = await lab.cliJson<{ address: string; prefix: string }>('n1', 'status');
  t.is(status.address, lab.node('n1').overlay as string);
});

test.serial('failover: a silently frozen tunnel under a continuous ping; traffic resumes over another path', async (t) => {
  const lab = await labFor(t, { nodes: 5, nat: 0 });
  const r = await failoverScenario(lab, (l) => t.log(l), 'freeze');
  t.log(`outage ${r.outageMs} ms, ${r.lostPackets} packets lost (20 Hz), route now via ${r.routeAfter}`);
  t.true(r.ok);
  t.truthy(r.routeAfter);
});

test.serial('registry outage: all pairs still reach; a restarted daemon rejoins from its peer DB alone', async (t) => {
  const lab = await labFor(t, { nodes: 4, nat: 1 });
  const r = await registryOutageScenario(lab, (l) => t.log(l), 'n2');
  t.true(r.ok);
  t.deepEqual(await unreachable(lab), []);
});

test.serial('revocation: nobody keeps a tunnel with the revoked node; an offline node learns it from peers', async (t) => {
  // Short heartbeats: the online nodes hear of the revocation from the registry sooner.
  const lab = await labFor(t, { nodes: 5, nat: 0, nodeConfigPatch: () => ({ registry: { heartbeat_interval: 5 } }) });
  const r = await revocationScenario(lab, (l) => t.log(l), 'n2', 'n3');
  t.true(r.ok);
  for (const n of ['n1', 'n3', 'n4', 'n5']) t.false(await lab.ping('n2', n), `n2 must not reach ${n}`);
});

test.serial('crash: kill -9 a daemon; the new one cleans up the stale children and rejoins; lab down leaves nothing', async (t) => {
  const lab = await labFor(t, { nodes: 4, nat: 1 });
  const r = await crashScenario(lab, (l) => t.log(l), 'n2');
  t.true(r.ok);
  t.true((r.staleChildren as number) > 0, 'openvpn/babeld survived the kill -9');
  const procs = [...lab.manifest.processes];
  await lab.down();
  t.deepEqual(await labNamespaces(lab.id), []);
  for (const p of procs) t.false(isRunning(p), `${p.role} ${p.host} pid ${p.pid}`);
});

test.serial('traffic-aware selection: steady traffic between non-adjacent nodes gets (or keeps) the tunnel that carries it', async (t) => {
  const lab = await labFor(t, { nodes: 6, nat: 0, registrySettings: ['client_count=2', 'tunnel_refresh=5'] });
  const r = await trafficScenario(lab, (l) => t.log(l));
  for (const e of r.events as string[]) t.log(`event: ${e}`);
  if (r.direct === true) {
    t.true((r.directEvents as string[]).length > 0, 'the events show the direct tunnel being established');
  } else {
    t.true(r.kept === true, 'the carrying tunnel stayed');
    t.true((r.replaced as number) > 0, 'while the tunnel managers replaced other tunnels');
  }
  t.true(r.ok);
});
