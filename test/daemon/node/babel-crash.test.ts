// A babeld killed with SIGKILL comes back under a new router-id (real daemons, real
// babeld and openvpn in namespaces). babeld keeps its seqno only across a clean exit;
// under the same id, a restart from a random seqno behind the old one leaves the other
// nodes holding its routes unfeasible for minutes (a 16-node chaos run lost 6 pairs
// for good after two babeld kills and a split). So: b's babeld is killed, the daemon's
// supervisor starts it again, its id differs, a installs b's prefix from the new id,
// and the pair reaches again.
import test from 'ava';
import { dirname, join } from 'node:path';
import { BabelClient } from '../../../daemon/babel/client.js';
import { systemClock } from '../../../daemon/sys/clock.js';
import { waitFor } from '../../fixtures/wait.js';
import { nodeCli, pings, startNetwork, tunnelUp, type RunningNode } from './netlab.js';

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

test.serial('a babeld killed with SIGKILL is started again under a new router-id, and its routes are taken at once', async (t) => {
  const { lab, nodes } = await startNetwork(t, ['a', 'b'], ['babel.hello_interval=1']);
  const a = nodes.get('a')!;
  const b = nodes.get('b')!;
  await waitFor(() => tunnelUp(lab, a, b), { what: 'a-b tunnel up', timeoutMs: 60_000 });
  await waitFor(() => pings(lab, a, b), { what: 'a pings b', timeoutMs: 60_000 });
  const before = await babelView(b);
  t.is((await babelView(a)).installed.get(b.prefix), before.id, "a's route to b's prefix comes from b's babeld");
  const pid = (await nodeCli(lab, b, 'status')).babeld.pid as number;
  t.is(typeof pid, 'number');
  process.kill(pid, 'SIGKILL');
  const after = await waitFor(async () => {
    const status = await nodeCli(lab, b, 'status');
    if (status.babeld.pid === pid || !status.babeld.running) throw new Error(`babeld not restarted yet (pid ${status.babeld.pid})`);
    return babelView(b);
  }, { what: "b's babeld started again", timeoutMs: 60_000 });
  t.not(after.id, before.id, 'a new router-id');
  await waitFor(async () => {
    const via = (await babelView(a)).installed.get(b.prefix);
    if (via !== after.id) throw new Error(`a routes b's prefix from id ${via ?? '(none)'}`);
    return true;
  }, { what: "a's route to b's prefix from b's new id", timeoutMs: 60_000 });
  await waitFor(() => pings(lab, a, b), { what: 'a pings b again', timeoutMs: 60_000 });
  await waitFor(() => pings(lab, b, a), { what: 'b pings a again', timeoutMs: 60_000 });
});
