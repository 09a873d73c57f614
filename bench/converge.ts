// Convergence benchmark: time from the daemons' start to all-pairs overlay
// reachability, for labs of several sizes (median of the runs that converged).
//   npm run bench:converge [-- --sizes 8,16,32,64 --runs 3 --hello 1 --nat 2 --timeout SEC]
// Every lab is removed when its run ends, also when it failed or timed out and
// on Ctrl-C. Prints a table and, as its last line, one JSON object.
import { cpus, loadavg, totalmem } from 'node:os';
import { withLab } from '../lab/handle.js';
import { MAX_NODES } from '../lab/layout.js';

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

const sizes = intArg('sizes', '16,32', 2, MAX_NODES);
const [runs = 3] = intArg('runs', '3', 1, 100);
const hello = Number(arg('hello', '1'));
const [nat = 2] = intArg('nat', '2', 0, MAX_NODES - 1);
// Default deadline grows with the lab: starting and probing take longer.
const timeoutFor = (n: number) => Number(arg('timeout', String(60 + 4 * n))) * 1000;

function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

interface Row { nodes: number; nat: number; helloSec: number; timeoutMs: number; runsMs: Array<number | null>; failures: string[]; medianMs: number | null }
const results: Row[] = [];
for (const n of sizes) {
  const row: Row = { nodes: n, nat: Math.min(nat, n - 1), helloSec: hello, timeoutMs: timeoutFor(n), runsMs: [], failures: [], medianMs: null };
  for (let r = 0; r < runs; r++) {
    try {
      const ms = await withLab({ nodes: n, nat: row.nat, helloSec: hello, reachTimeoutMs: row.timeoutMs, log: (l) => process.stderr.write(`  ${l}\n`) }, async (lab) => {
        const m = lab.manifest;
        if (m.daemonsStartedAtMs === undefined || m.convergedAtMs === undefined) throw new Error('lab did not record its timings');
        return m.convergedAtMs - m.daemonsStartedAtMs;
      });
      row.runsMs.push(ms);
      process.stderr.write(`${n} nodes, run ${r + 1}: ${(ms / 1000).toFixed(2)} s (load ${loadavg()[0]?.toFixed(1)})\n`);
    } catch (err) {
      const reason = (err as Error).message.split('\n')[0] ?? String(err);
      row.runsMs.push(null);
      row.failures.push(reason);
      process.stderr.write(`${n} nodes, run ${r + 1}: FAILED: ${(err as Error).message}\n`);
    }
  }
  row.medianMs = median(row.runsMs.filter((x): x is number => x !== null));
  results.push(row);
}

const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`;
console.log(`convergence: daemons started -> all pairs reach (hello ${hello} s), ${machine}`);
console.log('nodes  nat  runs (s; x = did not converge)     median (s)  deadline (s)');
for (const r of results) {
  const runsText = r.runsMs.map((x) => (x === null ? 'x' : (x / 1000).toFixed(2))).join(', ');
  console.log(`${String(r.nodes).padEnd(6)} ${String(r.nat).padEnd(4)} ${runsText.padEnd(32)} ${(r.medianMs === null ? '-' : (r.medianMs / 1000).toFixed(2)).padEnd(11)} ${r.timeoutMs / 1000}`);
}
const ok = results.every((r) => r.failures.length === 0);
console.log(JSON.stringify({ bench: 'converge', machine, helloSec: hello, ok, results }));
if (!ok) process.exitCode = 1;
