// Start-up benchmark: one daemon restarted alone in a running lab, timed from
// its process start to its first log line and to its first tunnel request (the
// first plan that opens a tunnel), with the CPU it used until then. With
// `--repos A,B` the runs alternate between the builds of two checkouts (each
// with `npm run build` done), so that old and new code are compared at the same
// load; the load average is printed with every run.
//   npm run bench:startup [-- --nodes 3 --runs 6 --hello 1 --repos /path/old,/path/new]
// The lab is removed at the end, also on failure and on Ctrl-C. Prints a table
// and, as its last line, one JSON object.
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { withLab, type LabHandle } from '../lab/handle.js';
import { findRepo } from '../lab/repo.js';
import { median, parseStartTimeline } from '../lab/start-timeline.js';
import { waitFor } from '../lab/wait.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? (process.argv[i + 1] as string) : fallback;
}

const nodes = Number(arg('nodes', '3'));
const runs = Number(arg('runs', '6'));
const hello = Number(arg('hello', '1'));
const repos = arg('repos', findRepo()).split(',');
if (!Number.isInteger(nodes) || nodes < 2 || nodes > 8) throw new Error('--nodes: 2…8 (a restarted daemon needs a peer to open a tunnel to)');
if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs: a positive integer');
const log = (l: string) => process.stderr.write(`  ${l}\n`);
const TICKS_PER_SEC = 100; // USER_HZ on Linux

interface Run { repo: string; load: number; firstLogMs: number | null; firstRequestMs: number | null; cpuMsAtRequest: number | null }

function readFrom(path: string, offset: number): string {
  const fd = openSync(path, 'r');
  try {
    const size = statSync(path).size;
    const buf = Buffer.alloc(Math.max(0, size - offset));
    readSync(fd, buf, 0, buf.length, offset);
    return buf.toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** user + system CPU of a process so far, ms (from /proc/PID/stat). */
function cpuMsOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SEC;
  } catch {
    return null;
  }
}

async function restartOnce(lab: LabHandle, node: string, repo: string): Promise<Run> {
  await lab.stopDaemon(node);
  const logPath = lab.daemon(node)?.log;
  if (!logPath) throw new Error(`no daemon log for ${node}`);
  const offset = statSync(logPath).size;
  lab.manifest.repo = repo;
  const load = loadavg()[0] ?? 0;
  const startedAtMs = Date.now();
  const rec = lab.startDaemon(node);
  // Polled every 20 ms: the CPU figure includes up to that much past the request.
  const seen = await waitFor(() => {
    const t = parseStartTimeline(readFrom(logPath, offset), startedAtMs);
    return t.firstRequestMs === null ? undefined : { t, cpu: cpuMsOf(rec.pid) };
  }, { timeoutMs: 120_000, intervalMs: 20, what: `${node}'s first tunnel request after its restart` });
  // The next stop must not cut this start short (a stop during the host set-up fails the start).
  await waitFor(() => (readFrom(logPath, offset).includes('"msg":"daemon running"') ? true : undefined), { timeoutMs: 120_000, what: `${node}'s daemon to finish its start` });
  return { repo, load, firstLogMs: seen.t.firstLogMs, firstRequestMs: seen.t.firstRequestMs, cpuMsAtRequest: seen.cpu };
}

const results = await withLab({ nodes, nat: 0, helloSec: hello, reachTimeoutMs: 120_000, log }, async (lab) => {
  const node = lab.nodes.at(-1)!.name;
  const own = lab.manifest.repo;
  const out: Run[] = [];
  try {
    for (let r = 0; r < runs; r++) {
      for (const repo of repos) {
        const run = await restartOnce(lab, node, repo);
        out.push(run);
        process.stderr.write(`run ${r + 1} ${repo}: first log line ${run.firstLogMs} ms, first tunnel request ${run.firstRequestMs} ms, CPU ${run.cpuMsAtRequest} ms (load ${run.load.toFixed(1)})\n`);
      }
    }
  } finally {
    lab.manifest.repo = own;
  }
  return out;
});

const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`;
const present = (xs: Array<number | null>): number[] => xs.filter((x): x is number => x !== null);
const summary = repos.map((repo) => {
  const mine = results.filter((r) => r.repo === repo);
  return {
    repo,
    firstLogMs: median(present(mine.map((r) => r.firstLogMs))),
    firstRequestMs: median(present(mine.map((r) => r.firstRequestMs))),
    cpuMsAtRequest: median(present(mine.map((r) => r.cpuMsAtRequest))),
    loads: mine.map((r) => Number(r.load.toFixed(1))),
  };
});
console.log(`start-up: one daemon restarted in a running ${nodes}-node lab (hello ${hello} s), median of ${runs} runs, ${machine}`);
console.log('build                                  first log line (ms)  first tunnel request (ms)  CPU until then (ms)  load');
for (const s of summary) console.log(`${s.repo.padEnd(38)} ${String(s.firstLogMs).padEnd(20)} ${String(s.firstRequestMs).padEnd(26)} ${String(s.cpuMsAtRequest).padEnd(20)} ${s.loads.join(', ')}`);
console.log(JSON.stringify({ bench: 'startup', machine, nodes, helloSec: hello, summary, runs: results }));
