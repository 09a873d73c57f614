// A babeld killed with SIGKILL (real daemons, real babeld and openvpn in namespaces).
// 1. It comes back under a new router-id. babeld keeps its seqno only across a clean
//    exit; under the same id, a restart from a random seqno behind the old one leaves
//    the other nodes holding its routes unfeasible for minutes. So: b's babeld is
//    killed, the supervisor starts it again, its id differs, a installs b's prefix from
//    the new id, and the pair reaches again.
// 2. The kernel routes it left are removed before the next one starts. babeld takes
//    EEXIST for success when it installs a route, so a dead one's route would stay in
//    the kernel instead of the new one's (a 16-node chaos run lost pairs for minutes
//    that way). Here the dead babeld's route to a is made a dead end (via lo) while it
//    is frozen, then it is killed: b must reach a again.
import test, { type ExecutionContext } from 'ava';
import { dirname, join } from 'node:path';
import { BabelClient } from '../../../daemon/babel/client.js';
import { systemClock } from '../../../daemon/sys/clock.js';
import { waitFor } from '../../fixtures/wait.js';
import { nodeCli, pings, runOk, sharedNetwork, tunnelUp, type NodeLab, type RunningNode } from './netlab.js';

/** One answer of the node's babeld: its router-id and the ids of its installed routes by prefix. */
async function babelView(n: RunningNode): Promise<{ id: string; installed: Map<string, string> }> {
  const client = new BabelClient({ socketPath: join(dirname(n.configPath), 'run', 'babeld.sock'), clock: systemClock, requestTimeoutMs: 5_000 });
  try {
    const table = await client.dump();
    const id = client.banner.find((e) => e.kind === 'my-id');
    if (id?.kind !== 'my-id') throw new Error('babeld sent no my-id');
    const installed = new Map([...table.routes.values()].filter((r) => r.installed).map((r) => [r.prefix, r.routerId]));
    return { id: id.id, installed };
  } finally {
    client.close();
  }
}

// One pair for both cases: the first leaves b with a new babeld and the pair reaching again.
const network = sharedNetwork(test, ['a', 'b'], ['babel.hello_interval=1']);

/** The pair with its a–b tunnel up, both ways pinging; b's babeld PID now. */
async function pairUp(t: ExecutionContext) {
  const { lab, nodes } = await network(t);
  const a = nodes.get('a')!;
  const b = nodes.get('b')!;
  await waitFor(() => tunnelUp(lab, a, b), { what: 'a-b tunnel up', timeoutMs: 60_000 });
  await waitFor(() => pings(lab, a, b), { what: 'a pings b', timeoutMs: 60_000 });
  await waitFor(() => pings(lab, b, a), { what: 'b pings a', timeoutMs: 60_000 });
  const pid = (await nodeCli(lab, b, 'status')).babeld.pid as number;
  if (typeof pid !== 'number') throw new Error("b's status names no babeld PID");
  return { lab, a, b, pid };
}

/** Resolves once the node's supervisor runs a babeld other than `pid`. */
function restarted(lab: NodeLab, n: RunningNode, pid: number): Promise<true> {
  return waitFor(async () => {
    const status = await nodeCli(lab, n, 'status');
    if (status.babeld.pid === pid || !status.babeld.running) throw new Error(`babeld not restarted yet (pid ${status.babeld.pid})`);
    return true as const;
  }, { what: `${n.host.name}'s babeld started again`, timeoutMs: 60_000 });
}

test.serial('a babeld killed with SIGKILL is started again under a new router-id, and its routes are taken at once', async (t) => {
  const { lab, a, b, pid } = await pairUp(t);
  const before = await babelView(b);
  t.is((await babelView(a)).installed.get(b.prefix), before.id, "a's route to b's prefix comes from b's babeld");
  process.kill(pid, 'SIGKILL');
  await restarted(lab, b, pid);
  const after = await waitFor(() => babelView(b), { what: "b's new babeld to answer", timeoutMs: 60_000 });
  t.not(after.id, before.id, 'a new router-id');
  await waitFor(async () => {
    const via = (await babelView(a)).installed.get(b.prefix);
    if (via !== after.id) throw new Error(`a routes b's prefix from id ${via ?? '(none)'}`);
    return true;
  }, { what: "a's route to b's prefix from b's new id", timeoutMs: 60_000 });
  await waitFor(() => pings(lab, a, b), { what: 'a pings b again', timeoutMs: 60_000 });
  await waitFor(() => pings(lab, b, a), { what: 'b pings a again', timeoutMs: 60_000 });
});

test.serial('the kernel routes of a killed babeld are removed before the next one starts', async (t) => {
  const { lab, a, b, pid } = await pairUp(t);
  process.kill(pid, 'SIGSTOP');
  t.teardown(() => {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // gone
    }
  });
  // What the killed babeld leaves: its route to a, here pointing nowhere (its tunnel gone, say).
  await runOk(['ip', '-n', b.host.ns, '-6', 'route', 'replace', a.prefix, 'dev', 'lo', 'proto', 'babel', 'metric', '1024']);
  process.kill(pid, 'SIGKILL');
  await restarted(lab, b, pid);
  await waitFor(() => pings(lab, b, a), { what: 'b pings a again', timeoutMs: 90_000 });
  const route = await runOk(['ip', '-n', b.host.ns, '-6', 'route', 'show', a.prefix]);
  t.notRegex(route, /dev lo/, 'the dead end is gone');
  t.regex(route, /proto babel/);
});
