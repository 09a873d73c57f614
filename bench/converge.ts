// Convergence benchmark: time from the daemons' start to all-pairs overlay
// reachability, for labs of several sizes (median of the runs that converged),
// and the join time: a node started in a running network until it and every
// other node reach each other.
//   npm run bench:converge [-- --sizes 8,16,32,64 --runs 3 --hello 1 --nat 2 --join 16 --timeout SEC]
// `--join 0` leaves the join row out. Each run also reads the daemons' logs for
// where the start-up went (first log line, first tunnel request, links up).
// Every lab is removed when its run ends, also when it failed or timed out and
// on Ctrl-C. Prints a table and, as its last line, one JSON object.
import { cpus, loadavg, totalmem } from 'node:os';
import { withLab, type LabHandle } from '../lab/handle.js';
import { MAX_NODES } from '../lab/layout.js';
import { median, readStartTimeline, startPhases, type StartPhases } from '../lab/start-timeline.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? (process.argv[i + 1] as string) : fallback;
}

function intArg(name: string, fallback: string, min: number, max: number): number[] {
  const values = arg(name, fallback).split(',').map(Number);
  const bad = values.filter((v) => !Number.isInteger(v) || v < min || v > max);
  if (bad.length > 0) throw new Error(`--${name}: ${bad.join(', ')} not an integer ${min}…${max}`);
  return values;
}

const sizes = intArg('sizes', '8,16,32', 2, MAX_NODES);
const [runs = 3] = intArg('runs', '3', 1, 100);
const hello = Number(arg('hello', '1'));
const [nat = 2] = intArg('nat', '2', 0, MAX_NODES - 1);
const [joinInto = 16] = intArg('join', '16', 0, MAX_NODES - 1);
// Default deadline grows with the lab: starting and probing take longer.
const timeoutFor = (n: number) => Number(arg('timeout', String(60 + 4 * n))) * 1000;
const log = (l: string) => process.stderr.write(`  ${l}\n`);

/** One measured run: the time, and where the start-up went (null: not measured). */
interface Run { ms: number; allReachedMs: number; phases: StartPhases | null; load: number }
interface Row {
  kind: 'cold start' | 'join';
  nodes: number;
  nat: number;
  helloSec: number;
  timeoutMs: number;
  runsMs: Array<number | null>;
  /** Until the round that first saw every pair reach (runsMs adds the confirming round). */
  allReachedMs: Array<number | null>;
  phases: Array<StartPhases | null>;
  loads: number[];
  failures: string[];
  medianMs: number | null;
  medianAllReachedMs: number | null;
}

/** Where each daemon's start-up went, from the logs of the nodes started at `startedAtMs`. */
function phasesOf(lab: LabHandle, nodes: string[], startedAtMs: number, untilMs: number): StartPhases {
  const timelines = nodes.map((name) => readStartTimeline(lab.daemon(name)?.log ?? '', startedAtMs));
  return startPhases(timelines, untilMs);
}

async function coldStart(n: number, rowNat: number, timeoutMs: number): Promise<Run> {
  return withLab({ nodes: n, nat: rowNat, helloSec: hello, reachTimeoutMs: timeoutMs, log }, async (lab) => {
    const m = lab.manifest;
    if (m.daemonsStartedAtMs === undefined || m.convergedAtMs === undefined || m.allReachedAtMs === undefined) throw new Error('lab did not record its timings');
    const allReachedMs = m.allReachedAtMs - m.daemonsStartedAtMs;
    return { ms: m.convergedAtMs - m.daemonsStartedAtMs, allReachedMs, phases: phasesOf(lab, lab.nodes.map((x) => x.name), m.daemonsStartedAtMs, allReachedMs), load: loadavg()[0] ?? 0 };
  });
}

/** A network of n nodes converges; then node n+1 registers and starts, and its join is timed. */
async function join(n: number, rowNat: number, timeoutMs: number): Promise<Run> {
  return withLab({ nodes: n + 1, nat: rowNat, helloSec: hello, reachTimeoutMs: timeoutMs, holdBack: 1, log }, async (lab) => {
    const node = lab.manifest.heldBack?.[0];
    if (node === undefined) throw new Error('lab held no node back');
    const j = await lab.join(node, { timeoutMs });
    return { ms: j.elapsedMs, allReachedMs: j.allReachedMs, phases: phasesOf(lab, [node], j.startedAtMs, j.allReachedMs), load: loadavg()[0] ?? 0 };
  });
}

function newRow(kind: Row['kind'], n: number, rowNat: number, timeoutMs: number): Row {
  return { kind, nodes: n, nat: rowNat, helloSec: hello, timeoutMs, runsMs: [], allReachedMs: [], phases: [], loads: [], failures: [], medianMs: null, medianAllReachedMs: null };
}

async function measure(row: Row, once: () => Promise<Run>): Promise<Row> {
  const what = row.kind === 'join' ? `join into ${row.nodes} nodes` : `${row.nodes} nodes`;
  for (let r = 0; r < runs; r++) {
    try {
      const run = await once();
      row.runsMs.push(run.ms);
      row.allReachedMs.push(run.allReachedMs);
      row.phases.push(run.phases);
      row.loads.push(Number(run.load.toFixed(1)));
      process.stderr.write(`${what}, run ${r + 1}: ${(run.ms / 1000).toFixed(2)} s (all pairs first seen at ${(run.allReachedMs / 1000).toFixed(2)} s; load ${run.load.toFixed(1)})\n`);
    } catch (err) {
      const reason = (err as Error).message.split('\n')[0] ?? String(err);
      row.runsMs.push(null);
      row.allReachedMs.push(null);
      row.phases.push(null);
      row.failures.push(reason);
      process.stderr.write(`${what}, run ${r + 1}: FAILED: ${(err as Error).message}\n`);
    }
  }
  const present = (xs: Array<number | null>): number[] => xs.filter((x): x is number => x !== null);
  row.medianMs = median(present(row.runsMs));
  row.medianAllReachedMs = median(present(row.allReachedMs));
  return row;
}

const results: Row[] = [];
for (const n of sizes) {
  const row = newRow('cold start', n, Math.min(nat, n - 1), timeoutFor(n));
  results.push(await measure(row, () => coldStart(n, row.nat, row.timeoutMs)));
}
if (joinInto > 0) {
  const row = newRow('join', joinInto, Math.min(nat, joinInto - 1), timeoutFor(joinInto + 1));
  results.push(await measure(row, () => join(joinInto, row.nat, row.timeoutMs)));
}

const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`;
const sec = (x: number | null): string => (x === null ? 'x' : (x / 1000).toFixed(2));
console.log(`convergence: daemons started -> all pairs reach (hello ${hello} s), ${machine}`);
console.log('row           nat  runs (s; x = did not converge)     median (s)  first seen (s)  deadline (s)  load');
for (const r of results) {
  const label = r.kind === 'join' ? `join ${r.nodes}+1` : `${r.nodes} nodes`;
  console.log(
    `${label.padEnd(13)} ${String(r.nat).padEnd(4)} ${r.runsMs.map(sec).join(', ').padEnd(32)} ${(r.medianMs === null ? '-' : sec(r.medianMs)).padEnd(11)} ${(r.medianAllReachedMs === null ? '-' : sec(r.medianAllReachedMs)).padEnd(15)} ${String(r.timeoutMs / 1000).padEnd(13)} ${r.loads.join(', ')}`,
  );
}
console.log('where the start went, per run (s after the daemons started): first log line and first tunnel request (median node), first link up, every node linked, last link up, all pairs first seen');
for (const r of results) {
  r.phases.forEach((p, i) => {
    if (p === null) return;
    const label = r.kind === 'join' ? `join ${r.nodes}+1` : `${r.nodes} nodes`;
    console.log(`${label.padEnd(13)} run ${i + 1}: log ${sec(p.firstLogMs)}  request ${sec(p.firstRequestMs)}  link ${sec(p.firstLinkUpMs)}  all linked ${sec(p.everyNodeLinkedMs)}  last link ${sec(p.lastLinkUpMs)}  pairs ${sec(r.allReachedMs[i] ?? null)}`);
  });
}
const ok = results.every((r) => r.failures.length === 0);
console.log(JSON.stringify({ bench: 'converge', machine, helloSec: hello, ok, results }));
if (!ok) process.exitCode = 1;
