// Chaos benchmark: a seeded sequence of faults on a 16-node lab (2 behind NAT)
// for 10 minutes by default; the time each fault takes to heal completely.
//   npm run bench:chaos [-- --minutes 10 --seed 7 --nodes 16 --nat 2]
// The lab is removed at the end, also on failure and on Ctrl-C. Prints the
// fault table and, as its last line, one JSON object; exit code 1 when a
// recovery exceeded its bound, a daemon exited or a peer DB is damaged.
import { cpus, totalmem } from 'node:os';
import { chaosScenario, renderChaosTable } from '../lab/chaos.js';
import { withLab } from '../lab/handle.js';

function intArg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const n = i > 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer (got ${process.argv[i + 1]})`);
  return n;
}

const minutes = intArg('minutes', 10);
const seed = intArg('seed', 7);
const nodes = intArg('nodes', 16);
const nat = intArg('nat', 2);
const log = (l: string) => process.stderr.write(`  ${l}\n`);

const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`;
const shape = { bench: 'chaos', machine, seed, minutes, nodes, nat };
let result;
try {
  // Forming the network is not what this measures: a generous deadline for it.
  result = await withLab({ nodes, nat, log, reachTimeoutMs: 300_000 }, (lab) => chaosScenario(lab, log, { seed, minutes }));
} catch (err) {
  // No lab to run the faults on (it did not form): still a table-less result line.
  const error = (err as Error).message.split('\n')[0] ?? String(err);
  console.log(`chaos: seed ${seed}, ${minutes} min, ${nodes} nodes (${nat} behind NAT), ${machine}: no run, the lab did not come up: ${error}`);
  console.log(JSON.stringify({ ...shape, ok: false, error, rows: [] }));
  process.exit(1);
}
console.log(`chaos: seed ${seed}, ${minutes} min, ${nodes} nodes (${nat} behind NAT), ${machine}`);
console.log(renderChaosTable(result.rows));
for (const f of result.failures) console.log(`FAIL: ${f}`);
console.log(JSON.stringify({ ...shape, ok: result.ok, durationMs: result.durationMs, rows: result.rows, daemonExits: result.daemonExits, peerDbs: result.peerDbs.map((d) => ({ node: d.node, result: d.result })) }));
if (!result.ok) process.exitCode = 1;
