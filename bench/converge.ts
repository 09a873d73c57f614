// Convergence benchmark: time from the daemons' start to all-pairs overlay
// reachability, for labs of 16 and 32 nodes (median of 3 runs each).
//   npm run bench:converge [-- --sizes 16,32 --runs 3 --hello 1 --nat 2]
// Prints a table and, as its last line, one JSON object with every figure.
import { cpus, totalmem } from 'node:os';
import { LabHandle } from '../lab/handle.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? (process.argv[i + 1] as string) : fallback;
}

const sizes = arg('sizes', '16,32').split(',').map(Number);
const runs = Number(arg('runs', '3'));
const hello = Number(arg('hello', '1'));
const nat = Number(arg('nat', '2'));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

const results: Array<{ nodes: number; nat: number; helloSec: number; runsMs: number[]; medianMs: number }> = [];
for (const n of sizes) {
  const runsMs: number[] = [];
  for (let r = 0; r < runs; r++) {
    const lab = await LabHandle.up({ nodes: n, nat: Math.min(nat, n - 1), helloSec: hello, reachTimeoutMs: 180_000, log: (l) => process.stderr.write(`  ${l}\n`) });
    try {
      const m = lab.manifest;
      if (m.daemonsStartedAtMs === undefined || m.convergedAtMs === undefined) throw new Error('lab did not record its timings');
      runsMs.push(m.convergedAtMs - m.daemonsStartedAtMs);
      process.stderr.write(`${n} nodes, run ${r + 1}: ${((m.convergedAtMs - m.daemonsStartedAtMs) / 1000).toFixed(2)} s\n`);
    } finally {
      await lab.down();
    }
  }
  results.push({ nodes: n, nat: Math.min(nat, n - 1), helloSec: hello, runsMs, medianMs: median(runsMs) });
}

const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`;
console.log(`convergence: daemons started -> all pairs reach (hello ${hello} s), ${machine}`);
console.log('nodes  nat  runs (s)                 median (s)');
for (const r of results) {
  console.log(`${String(r.nodes).padEnd(6)} ${String(r.nat).padEnd(4)} ${r.runsMs.map((x) => (x / 1000).toFixed(2)).join(', ').padEnd(24)} ${(r.medianMs / 1000).toFixed(2)}`);
}
console.log(JSON.stringify({ bench: 'converge', machine, helloSec: hello, results }));
