// Failover benchmark: outage seen by a 20 Hz ping when the tunnel that carries
// it dies silently (both openvpn ends frozen) or its process exits, at the
// network's default hello interval and at 1 s; and packets lost while the
// tunnel manager replaces tunnels on purpose (drain), with a short refresh.
//   npm run bench:failover [-- --runs 3 --hellos 4,1 --nodes 5 --drains 2 --drain-nodes 10 --only drain|failover
//                             --name fo --link-hellos off --link-hello 0.05 --keep-logs DIR --reach-seconds 240]
// `--link-hello SEC` sets the nodes' link hello interval (tunnels.link_hello_interval) in the failover labs.
// `--settle SEC` (default 90; 0: cut at once): before the cut, wait up to SEC until link liveness
// on both ends of the cut tunnel runs on time and the machine is calm (CPU pressure below 20 %).
// Right after the lab starts, the start-up storm's lateness widens every deadline for 30 s, and
// under CPU pressure no link is watched closely; without the wait the silent row measures that too.
// Prints a table and, as its last line, one JSON object with every figure. For
// the drain row it also lists each run of lost pings with the drain steps and
// lost links that the daemons logged around it (which node, which tunnel, which
// phase), and counts the lost pings by what preceded them.
// Every lab is torn down, also when it fails.
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { networkConfigDefaults } from '../config/network-config.js';
import { guardLab } from '../lab/guard.js';
import { LabHandle, withLab } from '../lab/handle.js';
import { failoverScenario } from '../lab/scenarios.js';
import { startContinuousPing, type PingLog } from '../lab/ping.js';
import { waitFor } from '../lab/wait.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? (process.argv[i + 1] as string) : fallback;
}

const runs = Number(arg('runs', '3'));
const hellos = arg('hellos', `${networkConfigDefaults.babel.hello_interval},1`).split(',').map(Number);
const nodes = Number(arg('nodes', '5'));
const drains = Number(arg('drains', '2'));
const drainMaxSec = Number(arg('drain-max-seconds', '420'));
// Enough nodes that a replacement peer exists (in a small lab everyone is adjacent).
const drainNodes = Number(arg('drain-nodes', '10'));
// A loaded machine (other labs, builds) forms the 10-node network slowly.
const reachSec = Number(arg('reach-seconds', '240'));
// `--link-hellos off`: no link liveness in the drain lab, so its losses are the drains' own
// (under CPU load, late link hellos declare links lost, which drops routes too).
const linkHellos = arg('link-hellos', 'on') !== 'off';
// The failover labs' link hello interval (default: the node config's, 0.25 s).
const linkHello = arg('link-hello', '');
const settleSec = Number(arg('settle', '90'));
const linkHelloPatch = linkHello ? { nodeConfigPatch: () => ({ tunnels: { link_hello_interval: Number(linkHello) } }) } : {};
// Where to copy the drain lab's daemon logs before it is torn down (none: not kept).
const keepLogs = arg('keep-logs', '');
// Lab names: the prefix plus a counter (unique per run of this benchmark).
const namePrefix = arg('name', `fo${process.pid % 10_000}`);
let labCount = 0;
const nextLabId = () => `${namePrefix}${labCount++}`.slice(0, 10);
const log = (l: string) => process.stderr.write(`  ${l}\n`);

function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

interface Row { kind: string; helloSec: number; outagesMs: number[]; lost: number[]; medianOutageMs: number | null; lostBy?: Record<string, number>; note?: string; settled?: number; closely?: string[]; closelyAfterS?: Array<number | null> }
const rows: Row[] = [];

const only = arg('only', 'all');
for (const hello of only === 'drain' ? [] : hellos) {
  for (const kind of ['freeze', 'exit'] as const) {
    const outagesMs: number[] = [];
    const lost: number[] = [];
    let settled = 0;
    const closely: string[] = [];
    const closelyAfterS: Array<number | null> = [];
    for (let r = 0; r < runs; r++) {
      // withLab: removed also when the run is interrupted (Ctrl-C) while the lab is still being built.
      const settle = settleSec > 0 ? { settleTimeoutMs: settleSec * 1000 } : {};
      const res = await withLab({ id: nextLabId(), nodes, nat: 0, helloSec: hello, log, keepOnFailure: false, ...linkHelloPatch }, (lab) => failoverScenario(lab, log, kind, settle));
      if (res.outageMs !== null) outagesMs.push(res.outageMs);
      if (res.lostPackets !== null) lost.push(res.lostPackets);
      if (res.settled === true) settled++;
      if (res.closelyAfterMs !== undefined) closelyAfterS.push(res.closelyAfterMs === null ? null : Math.round(res.closelyAfterMs / 100) / 10);
      if (res.closelyAtCut) closely.push(res.closelyAtCut.map((c) => (c === null ? '?' : c ? 'y' : 'n')).join(''));
    }
    rows.push({
      kind: kind === 'freeze' ? 'silent death (SIGSTOP both ends)' : 'process exit (kill one end)', helloSec: hello, outagesMs, lost, medianOutageMs: median(outagesMs),
      ...(linkHello ? { note: `link hellos every ${linkHello} s` } : {}),
      ...(settleSec > 0 ? { settled } : {}),
      ...(closely.length > 0 ? { closely } : {}),
      ...(closelyAfterS.length > 0 ? { closelyAfterS } : {}),
    });
  }
}

// Planned replacement: 20 Hz pings from n1 to every other node while the tunnel
// managers replace tunnels (refresh 5 s; new tunnels are protected for their
// first minutes, so this waits until n1 has replaced `drains` of its own).
if (only !== 'failover') {
  const drainLabId = nextLabId();
  const guard = guardLab(drainLabId, { log }); // removed also on Ctrl-C while it is being built
  const lab = await LabHandle.up({ id: drainLabId, nodes: drainNodes, nat: 0, helloSec: 1, registrySettings: ['tunnel_refresh=5', 'client_count=2'], log,
    keepOnFailure: false,
    reachTimeoutMs: reachSec * 1000,
    ...(linkHellos ? {} : { nodeConfigPatch: () => ({ tunnels: { link_hello_interval: 0 } }) }),
  });
  try {
    const a = lab.nodes[0]!;
    const closed = async () => (await lab.events(a.name)).filter((e) => e.kind === 'link-closed').length;
    const closedBefore = await closed();
    const pings = lab.nodes.slice(1).map((b) => startContinuousPing(a.netns, b.overlay as string, 0.05));
    const t0 = Date.now();
    let replaced = 0;
    try {
      await waitFor(
        async () => {
          replaced = (await closed()) - closedBefore;
          return replaced >= drains ? true : undefined;
        },
        { timeoutMs: drainMaxSec * 1000, intervalMs: 2_000, what: `${drains} planned tunnel replacements at ${a.name}` },
      );
    } catch (err) {
      log(`drain: ${(err as Error).message}`);
    }
    const logs = await Promise.all(pings.map((p) => p.stop()));
    let lostBy: Record<string, number> | undefined;
    try {
      const steps = lab.manifest.nodes.flatMap((n) => drainSteps(n.name, join(n.dir, 'daemon.log'), (prefix) => lab.nameOf(prefix)));
      lostBy = reportLosses(lab.nodes.slice(1).flatMap((b, i) => lostRuns(b.name, logs[i] as PingLog, 50)), steps);
    } catch (err) {
      log(`drain: cannot list the lost pings: ${(err as Error).message}`);
    }
    const sent = logs.reduce((n, l) => n + (l.transmitted ?? 0), 0);
    const lostPkts = logs.reduce((n, l) => n + ((l.transmitted ?? 0) - (l.received ?? 0)), 0);
    rows.push({
      kind: 'planned replacement (drain), refresh 5 s',
      helloSec: 1,
      outagesMs: [],
      lost: [lostPkts],
      medianOutageMs: null,
      ...(lostBy ? { lostBy } : {}),
      note: `${linkHellos ? '' : 'link hellos off; '}${replaced} tunnels of ${a.name} replaced in ${Math.round((Date.now() - t0) / 1000)} s; ${sent} pings from ${a.name} to all others`,
    });
  } finally {
    if (keepLogs) {
      mkdirSync(keepLogs, { recursive: true });
      for (const n of lab.manifest.nodes) if (existsSync(join(n.dir, 'daemon.log'))) copyFileSync(join(n.dir, 'daemon.log'), join(keepLogs, `${n.name}.log`));
    }
    await lab.down();
    guard.release();
  }
}

/** One drain-related line of a daemon's log. */
interface DrainStep { atMs: number; node: string; text: string }

/** The drain steps a daemon logged (its JSON log), named by lab node. */
function drainSteps(node: string, path: string, nameOf: (prefix: string) => string): DrainStep[] {
  if (!existsSync(path)) return [];
  const out: DrainStep[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    let rec: { time?: string; msg?: string; peer?: string; iface?: string; phase?: string; reason?: string; why?: string; downMs?: number };
    try {
      rec = JSON.parse(line) as typeof rec;
    } catch {
      continue;
    }
    if (!rec.msg || !rec.time || !/^(tunnel draining|drain |following|tunnel closing|link lost|link restored|babel cost changed live|link bounce failed)/.test(rec.msg)) continue;
    const detail = [rec.phase, rec.reason ?? rec.why, rec.iface && !rec.peer ? `${rec.iface}${rec.downMs === undefined ? '' : `, down ${rec.downMs} ms`}` : undefined].filter(Boolean).join(': ');
    out.push({ atMs: Date.parse(rec.time), node, text: `${rec.msg}${rec.peer ? ` ${nameOf(rec.peer)}` : ''}${detail ? ` (${detail})` : ''}` });
  }
  return out;
}

/** Consecutive lost pings to one destination, with their estimated send times. */
interface LostRun { to: string; fromSeq: number; count: number; fromMs: number; toMs: number }

/** Runs of missing sequence numbers; send times interpolated from the replies around them. */
function lostRuns(to: string, log: PingLog, intervalMs: number): LostRun[] {
  const replies = [...log.replies].sort((a, b) => a.seq - b.seq);
  const runs: LostRun[] = [];
  for (let i = 1; i < replies.length; i++) {
    const a = replies[i - 1]!;
    const b = replies[i]!;
    const missing = b.seq - a.seq - 1;
    if (missing <= 0) continue;
    const perSeq = Math.min(intervalMs * 4, (b.atMs - a.atMs) / (b.seq - a.seq));
    runs.push({ to, fromSeq: a.seq + 1, count: missing, fromMs: a.atMs + perSeq, toMs: a.atMs + perSeq * missing });
  }
  const tail = (log.transmitted ?? 0) - (replies.at(-1)?.seq ?? 0);
  if (tail > 1) runs.push({ to, fromSeq: (replies.at(-1)?.seq ?? 0) + 1, count: tail - 1, fromMs: replies.at(-1)?.atMs ?? 0, toMs: replies.at(-1)?.atMs ?? 0 });
  return runs;
}

/**
 * Prints each run of lost pings with the steps logged around it, and a count of lost pings by
 * what happened in the 1.5 s before the run until its end: a link lost (liveness), else a drain step.
 */
function reportLosses(runs: LostRun[], steps: DrainStep[]): Record<string, number> {
  const sorted = [...steps].sort((a, b) => a.atMs - b.atMs);
  const byCause: Record<string, number> = { 'link lost': 0, drain: 0, other: 0 };
  for (const r of [...runs].sort((a, b) => a.fromMs - b.fromMs)) {
    const near = sorted.filter((s) => s.atMs >= r.fromMs - 1_500 && s.atMs <= r.toMs);
    const cause = near.some((s) => s.text.startsWith('link lost')) ? 'link lost' : near.some((s) => !s.text.startsWith('link')) ? 'drain' : 'other';
    byCause[cause] = (byCause[cause] ?? 0) + r.count;
    const before = sorted.filter((s) => s.atMs <= r.toMs + 500 && s.atMs >= r.fromMs - 3_000).slice(-10);
    log(`lost ${r.count} to ${r.to} from seq ${r.fromSeq} at ${new Date(r.fromMs).toISOString().slice(11, 23)}–${new Date(r.toMs).toISOString().slice(17, 23)}`);
    for (const s of before) log(`    ${((s.atMs - r.fromMs) / 1000).toFixed(2).padStart(6)} s  ${s.node}: ${s.text}`);
  }
  log(`lost pings by what preceded them: ${JSON.stringify(byCause)}`);
  return byCause;
}

const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`;
console.log(`failover: 20 Hz ping across the cut tunnel, ${nodes} nodes, ${runs} runs, ${machine}`);
console.log('case                                        hello  outages (s)            median (s)  lost packets');
for (const r of rows) {
  const o = r.outagesMs.map((x) => (x / 1000).toFixed(2)).join(', ') || '-';
  console.log(`${r.kind.padEnd(43)} ${String(r.helloSec).padEnd(6)} ${o.padEnd(22)} ${r.medianOutageMs === null ? '-'.padEnd(11) : (r.medianOutageMs / 1000).toFixed(2).padEnd(11)} ${r.lost.join(', ')}${r.note ? `  (${r.note})` : ''}${r.settled !== undefined ? `  (on time before the cut: ${r.settled} of ${runs} runs)` : ''}${r.closely ? `  (watched closely at the cut, from/to end, per run: ${r.closely.join(' ')})` : ''}${r.closelyAfterS ? `  (sender's close watch on after, s: ${r.closelyAfterS.map((v) => v ?? 'never').join(', ')})` : ''}`);
}
console.log(JSON.stringify({ bench: 'failover', machine, nodes, runs, results: rows }));
