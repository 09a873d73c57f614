// Hole-punching benchmark: n1 on the lab's internet, n2 and n3 behind their own
// endpoint-independent routers without UPnP. Per run, the client end's times
// from its punch request (daemon log "hole punch requested") to the peer's
// answer ("hole punch answered") and to its "established via hole punching"
// event line, with the load average at that moment.
//   node --import tsx bench/punch.ts [--runs 3 --name pb --logs DIR]
// --logs DIR keeps each run's daemon logs (DIR/run<R>-<node>.log) for reading the timeline.
// Prints one line per run and, as its last line, one JSON object with every
// figure. Every lab is torn down, also when it fails.
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpus, loadavg } from 'node:os';
import { LabHandle } from '../lab/handle.js';
import { waitFor } from '../lab/wait.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? (process.argv[i + 1] as string) : fallback;
}

const runs = Number(arg('runs', '3'));
const namePrefix = arg('name', `pb${process.pid % 10_000}`);
const log = (l: string) => process.stderr.write(`  ${l}\n`);
const logsDir = arg('logs', '');

interface Run { run: number; client: string; exchangeMs: number | null; requestToUpMs: number | null; startToUpMs: number | null; load1: number; error?: string }
const results: Run[] = [];

/** Pino lines of a daemon log with the given message, as { time, peer, ... }. */
function logLines(path: string, msg: string): Array<{ time: number; peer?: string; tookMs?: number; local?: string }> {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.includes(`"msg":"${msg}"`))
    .map((l) => JSON.parse(l) as { time: number | string; peer?: string; tookMs?: number })
    // pino writes time as epoch ms or ISO text, by configuration.
    .map((l) => ({ ...l, time: typeof l.time === 'string' ? Date.parse(l.time) : l.time }));
}

for (let r = 0; r < runs; r++) {
  // All pairs within 3 min, as test/lab/hole-punch.test.ts allows: a NATed node that became the
  // server end of the public node's tunnel at start holds that pair up to a minute.
  const lab = await LabHandle.up({ id: `${namePrefix}${r}`.slice(0, 10), nodes: 3, nat: 2, natKind: 'eim', upnp: false, log, keepOnFailure: false, reachTimeoutMs: 180_000,
    nodeConfigPatch: () => ({ tunnels: { client_count: 2 } }) });
  try {
    const [n2, n3] = [lab.node('n2').prefix!, lab.node('n3').prefix!];
    const up = await waitFor(async () => {
      for (const [node, other] of [['n2', n3], ['n3', n2]] as const) {
        const line = (await lab.events(node)).find((e) => String(e.text).startsWith(`link with ${other} established via hole punching`));
        const t = (await lab.tunnels(node)).find((x) => x.peer === other && x.direction === 'outgoing' && x.state === 'up');
        if (line && t) return { node, other, atMs: Number(line.atMs) };
      }
      return undefined;
    }, { timeoutMs: 600_000, intervalMs: 2_000, what: 'a punched tunnel between n2 and n3' });
    const load1 = loadavg()[0]!;
    const daemonLog = lab.daemon(up.node)!.log;
    const requested = logLines(daemonLog, 'hole punch requested').filter((l) => l.peer === up.other && l.time <= up.atMs).at(-1);
    const answered = logLines(daemonLog, 'hole punch answered').filter((l) => l.peer === up.other && l.time <= up.atMs).at(-1);
    const row: Run = {
      run: r,
      client: up.node,
      exchangeMs: answered?.tookMs ?? null,
      requestToUpMs: requested ? up.atMs - requested.time : null,
      // From the daemons' start: what a start-up delay before the first punch costs.
      startToUpMs: lab.manifest.daemonsStartedAtMs !== undefined ? up.atMs - lab.manifest.daemonsStartedAtMs : null,
      load1: Math.round(load1 * 10) / 10,
    };
    results.push(row);
    log(`run ${r}: client ${row.client}, exchange ${row.exchangeMs} ms, request → tunnel up ${row.requestToUpMs} ms, daemons' start → tunnel up ${row.startToUpMs} ms, load ${row.load1}`);
  } catch (err) {
    results.push({ run: r, client: '-', exchangeMs: null, requestToUpMs: null, startToUpMs: null, load1: loadavg()[0]!, error: (err as Error).message });
    log(`run ${r} failed: ${(err as Error).message}`);
  } finally {
    if (logsDir) {
      mkdirSync(logsDir, { recursive: true });
      for (const n of lab.nodes) {
        const from = lab.daemon(n.name)?.log;
        if (from && existsSync(from)) copyFileSync(from, join(logsDir, `run${r}-${n.name}.log`));
      }
    }
    await lab.down();
  }
}

const ok = results.filter((x) => x.requestToUpMs !== null).map((x) => x.requestToUpMs!).sort((a, b) => a - b);
const fromStart = results.filter((x) => x.startToUpMs !== null).map((x) => x.startToUpMs!).sort((a, b) => a - b);
console.log(`punched tunnels: ${ok.length}/${runs}; request → tunnel up (ms): ${ok.join(', ') || '-'}; daemons' start → tunnel up (ms): ${fromStart.join(', ') || '-'}`);
console.log(JSON.stringify({ bench: 'punch', cores: cpus().length, runs: results, requestToUpMs: ok, startToUpMs: fromStart }));
