// Dead peers come back (issue 7, item 3), in a real lab: one node's underlay is
// cut silently (nftables drops all its non-loopback traffic inside its
// namespace) until every other node has marked it dead, then healed. The cut
// node must not blame its peers for its own failed sends, the others must
// revive it, and every pair must reach again. Shortened peer timers ([peers] in
// resilnet.toml); the link and tunnel timers are the defaults. Figures are
// logged, never asserted.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { LabHandle } from '../../lab/handle.js';
import { labDir } from '../../lab/manifest.js';
import { resilnet } from '../../lab/orchestrate.js';
import { isRunning } from '../../lab/procs.js';
import { waitFor, type WaitOptions } from '../../lab/wait.js';

interface PeerJson {
  prefix: string;
  dead: boolean;
  deadReason: string | null;
  deadCause?: string | null;
  nextRetryMs: number | null;
  failures: number;
}

interface StatusJson {
  health: Array<{ code: string; text: string }>;
}

const CUT_TABLE = 'rndeadcut';

/** `resilnet ARGS --json` in a node; a generous timeout, since the machine may be loaded (slow is not dead). */
async function cliJson<T>(lab: LabHandle, node: string, ...args: string[]): Promise<T> {
  const n = lab.node(node);
  return JSON.parse(await resilnet(lab.runner, lab.manifest, n.netns, [...args, '--json', '--config', n.config], 90_000)) as T;
}

/** On a timeout: whether each daemon still runs and the end of its log, then the error again. */
async function waitOrDiagnose<T>(t: ExecutionContext, lab: LabHandle, check: () => Promise<T | undefined>, options: WaitOptions): Promise<T> {
  try {
    return await waitFor(check, options);
  } catch (err) {
    for (const n of lab.nodes) {
      const rec = lab.daemon(n.name);
      let tail = '';
      try {
        tail = readFileSync(join(n.dir, 'daemon.log'), 'utf8').trimEnd().split('\n').slice(-15).join('\n');
      } catch (e) {
        tail = `(no log: ${(e as Error).message})`;
      }
      t.log(`${n.name}: daemon ${rec && isRunning(rec) ? `running (pid ${rec.pid})` : 'NOT running'}; log ends:\n${tail}`);
    }
    throw err;
  }
}

test.serial('dead-peer revival: a node cut off until its peers mark it dead does not blame them, is revived, and reaches every node again', async (t) => {
  const id = `hd${randomBytes(3).toString('hex')}`;
  let lab: LabHandle | undefined;
  t.teardown(async () => {
    if (lab && existsSync(labDir(lab.id))) await lab.down();
  });
  lab = await LabHandle.up({
    id,
    nodes: 4,
    nat: 0,
    log: (line) => t.log(`[${id}] ${line}`),
    // Peer timers shortened so both sides mark each other dead within minutes; heartbeats every 5 s.
    nodeConfigPatch: () => ({ registry: { heartbeat_interval: 5 }, peers: { retry_base: 5, dead_retry_base: 20, dead_retry_max: 60 } }),
  });
  const cut = 'n4';
  const others = lab.nodes.map((n) => n.name).filter((n) => n !== cut);
  const cutPrefix = lab.node(cut).prefix as string;
  const deadPeers = async (node: string): Promise<PeerJson[]> => (await cliJson<{ peers: PeerJson[] }>(lab!, node, 'peers', '--dead')).peers;

  // The cut: every packet in or out of the node's namespace except loopback is dropped (sends fail with EPERM).
  const nft = (...args: string[]) => lab!.exec(cut, 'nft', ...args);
  await nft('add', 'table', 'inet', CUT_TABLE);
  for (const [chain, hook, dir] of [['in', 'input', 'iifname'], ['out', 'output', 'oifname']] as const) {
    await nft('add', 'chain', 'inet', CUT_TABLE, chain, `{ type filter hook ${hook} priority -10 ; policy accept ; }`);
    await nft('add', 'rule', 'inet', CUT_TABLE, chain, dir, '!=', 'lo', 'drop');
  }
  const cutAtMs = Date.now();
  t.log(`cut ${cut} (${cutPrefix}) at ${new Date(cutAtMs).toISOString()}`);

  // Until every other node has marked it dead, sample what the cut node thinks of its peers.
  const blamedByCut = new Set<string>();
  let cutSawItself = false;
  await waitOrDiagnose(
    t,
    lab,
    async () => {
      for (const p of await deadPeers(cut)) blamedByCut.add(`${p.prefix}: ${p.deadReason}`);
      const health = (await cliJson<StatusJson>(lab!, cut, 'status')).health;
      if (health.some((h) => h.code === 'RN_PEERS_HOST_CUT_OFF')) cutSawItself = true;
      const marked = await Promise.all(others.map(async (n) => (await deadPeers(n)).some((p) => p.prefix === cutPrefix)));
      return marked.every(Boolean) && cutSawItself ? true : undefined;
    },
    { timeoutMs: 420_000, intervalMs: 2_000, what: `every node to mark ${cut} dead and ${cut} to see it is cut off` },
  );
  const deadAfterMs = Date.now() - cutAtMs;
  t.log(`every other node marked ${cut} dead ${(deadAfterMs / 1000).toFixed(0)} s after the cut`);
  for (const n of others) {
    const row = (await deadPeers(n)).find((p) => p.prefix === cutPrefix)!;
    t.log(`${n}: ${cutPrefix} dead (${row.deadCause}): ${row.deadReason}; next retry in ${((row.nextRetryMs ?? 0) - Date.now()) / 1000} s`);
    t.is(row.deadCause, 'failures');
    t.true(row.nextRetryMs !== null && row.nextRetryMs - Date.now() <= 72_000, 'the next retry is within the shortened cap (60 s + 20 %)');
  }
  const n1 = lab.node(others[0]!);
  t.log(`resilnet peers --dead on ${others[0]}:\n${await resilnet(lab.runner, lab.manifest, n1.netns, ['peers', '--dead', '--config', n1.config])}`);
  t.log(`${cut} status health: ${JSON.stringify((await cliJson<StatusJson>(lab, cut, 'status')).health)}`);
  t.deepEqual([...blamedByCut], [], `${cut} did not mark its peers dead for its own failed sends`);

  // Heal.
  await nft('delete', 'table', 'inet', CUT_TABLE);
  const healAtMs = Date.now();
  const allPairsMs = await lab.awaitAllPairs({ timeoutMs: 240_000 });
  t.log(`all pairs reach again ${(allPairsMs / 1000).toFixed(1)} s after the heal (cut lasted ${((healAtMs - cutAtMs) / 1000).toFixed(0)} s)`);

  // Every node revives it (an incoming tunnel request, the registry, or a retry hello), and no one is left dead.
  const stillDead: string[] = [];
  await waitOrDiagnose(
    t,
    lab,
    async () => {
      const left = (await Promise.all(lab!.nodes.map(async (n) => (await deadPeers(n.name)).map((p) => `${n.name}: ${p.prefix}`)))).flat();
      if (left.length > 0) {
        stillDead.push(`+${((Date.now() - healAtMs) / 1000).toFixed(1)} s ${left.join(', ')}`);
        throw new Error(`still dead: ${left.join(', ')}`);
      }
      return true;
    },
    { timeoutMs: 180_000, intervalMs: 2_000, what: 'no dead peers anywhere' },
  );
  t.log(`no dead peers anywhere ${((Date.now() - healAtMs) / 1000).toFixed(1)} s after the heal (seen still dead: ${stillDead.join('; ') || 'none'})`);
  for (const n of others) {
    const revived = (await cliJson<{ events: Array<{ text: string }> }>(lab, n, 'events', '--limit', '1000')).events.map((e) => e.text).filter((text) => text.startsWith(`peer ${cutPrefix} reachable again`));
    t.log(`${n}: ${revived.join(' | ') || '(revived by a tunnel that came up)'}`);
  }
  t.false((await cliJson<StatusJson>(lab, cut, 'status')).health.some((h) => h.code === 'RN_PEERS_HOST_CUT_OFF'), 'the cut-off health item cleared');
});
