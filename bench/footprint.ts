// Footprint benchmark: CPU and memory of each process of an idle, converged lab
// (daemon, openvpn, babeld per node), and the lab's cold start.
//   npm run bench:footprint [-- --nodes 8 --nat 0 --hello 1 --minutes 1 --sample-seconds 60 --name ID]
//   npm run bench:footprint -- --attach ID [--minutes 0]   (a lab already up: measured, left running)
// After convergence the lab idles for --minutes, then CPU is the utime+stime
// each process used over --sample-seconds (share of one core) and memory is
// read from /proc/PID/smaps_rollup at the window's end; wake-ups are the voluntary
// context switches of all its threads over the window (/proc/PID/task/*/status), disk
// writes the growth of write_bytes (/proc/PID/io). The lab is removed at
// the end, also on failure and on Ctrl-C. Prints tables and, as its last line,
// one JSON object.
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { LabHandle, withLab } from '../lab/handle.js';
import { MAX_NODES } from '../lab/layout.js';
import { cpuPercent, parseContextSwitches, parseIoWriteBytes, parseSmapsRollup, parseStatCpu, spread, type CpuTicks, type MemoryKiB, type Spread } from '../lab/proc-stats.js';

function numArg(name: string, fallback: number, min: number, max: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const n = i > 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(n) || n < min || n > max) throw new Error(`--${name} must be a number ${min}…${max} (got ${process.argv[i + 1]})`);
  return n;
}

const nodes = numArg('nodes', 8, 2, MAX_NODES);
const nat = numArg('nat', 0, 0, nodes - 1);
const hello = numArg('hello', 1, 0.05, 60);
const minutes = numArg('minutes', 1, 0, 120);
const sampleSeconds = numArg('sample-seconds', 60, 1, 3600);
function textArg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}
const id = textArg('name');
const attach = textArg('attach');
const log = (l: string) => process.stderr.write(`  ${l}\n`);

interface Proc { node: string; kind: string; pid: number }
interface ProcSample extends Proc { cpuPct: number; mem: MemoryKiB; wakeupsPerSec?: number; writeKiBPerMin?: number }

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
const ticksOf = (pid: number): CpuTicks | undefined => parseStatCpu(readText(`/proc/${pid}/stat`) ?? '');
const memoryOf = (pid: number): MemoryKiB | undefined => parseSmapsRollup(readText(`/proc/${pid}/smaps_rollup`) ?? '');
const writtenOf = (pid: number): number | undefined => parseIoWriteBytes(readText(`/proc/${pid}/io`) ?? '');

/** Wake-ups of all the process's threads so far: their voluntary context switches (each a sleep that something ended). */
function wakeupsOf(pid: number): number | undefined {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return undefined;
  }
  let sum = 0;
  for (const tid of tids) sum += parseContextSwitches(readText(`/proc/${pid}/task/${tid}/status`) ?? '')?.voluntary ?? 0;
  return sum;
}

/** Every daemon, openvpn and babeld of the lab's nodes (other helpers are left out). */
async function labProcesses(lab: LabHandle): Promise<Proc[]> {
  const out: Proc[] = [];
  for (const n of lab.nodes) {
    const d = lab.daemon(n.name);
    if (d) out.push({ node: n.name, kind: 'daemon', pid: d.pid });
    for (const c of await lab.children(n.name)) {
      if (c.comm === 'openvpn' || c.comm === 'babeld') out.push({ node: n.name, kind: c.comm, pid: c.pid });
    }
  }
  return out;
}

/** CPU over the window and memory at its end, for the processes alive throughout. */
async function sample(procs: Proc[], seconds: number): Promise<ProcSample[]> {
  const before = new Map(procs.map((p) => [p.pid, { cpu: ticksOf(p.pid), wakeups: wakeupsOf(p.pid), written: writtenOf(p.pid) }]));
  const t0 = performance.now();
  await delay(seconds * 1000);
  const elapsedMs = performance.now() - t0;
  const out: ProcSample[] = [];
  for (const p of procs) {
    const a = before.get(p.pid);
    const b = ticksOf(p.pid);
    const mem = memoryOf(p.pid);
    if (!a?.cpu || !b || !mem) continue;
    const wakeups = wakeupsOf(p.pid);
    const written = writtenOf(p.pid);
    out.push({
      ...p,
      cpuPct: cpuPercent(a.cpu, b, elapsedMs),
      mem,
      ...(a.wakeups !== undefined && wakeups !== undefined ? { wakeupsPerSec: (wakeups - a.wakeups) / (elapsedMs / 1000) } : {}),
      ...(a.written !== undefined && written !== undefined ? { writeKiBPerMin: (written - a.written) / 1024 / (elapsedMs / 60_000) } : {}),
    });
  }
  return out;
}

interface KindRow { kind: string; perNode: Spread | undefined; cpuPct?: Spread; rssMiB?: Spread; pssMiB?: Spread; privateMiB?: Spread; wakeupsPerSec?: Spread; writeKiBPerMin?: Spread }
const MiB = (kib: number) => kib / 1024;

function kindRows(samples: ProcSample[], nodeNames: string[]): KindRow[] {
  const kinds = ['daemon', 'openvpn', 'babeld'];
  const rows: KindRow[] = kinds.map((kind) => {
    const s = samples.filter((x) => x.kind === kind);
    // A process without a figure (its /proc file unreadable) counts in no spread of that figure.
    const of = (f: (x: ProcSample) => number | undefined) => spread(s.flatMap((x) => f(x) ?? []));
    return {
      kind,
      perNode: spread(nodeNames.map((n) => s.filter((x) => x.node === n).length)),
      ...opt('cpuPct', of((x) => x.cpuPct)),
      ...opt('rssMiB', of((x) => MiB(x.mem.rss))),
      ...opt('pssMiB', of((x) => MiB(x.mem.pss))),
      ...opt('privateMiB', of((x) => MiB(x.mem.private))),
      ...opt('wakeupsPerSec', of((x) => x.wakeupsPerSec)),
      ...opt('writeKiBPerMin', of((x) => x.writeKiBPerMin)),
    };
  });
  // The whole node: the sum over its processes.
  const sum = (n: string, f: (x: ProcSample) => number) => samples.filter((x) => x.node === n).reduce((a, x) => a + f(x), 0);
  const per = (f: (x: ProcSample) => number) => spread(nodeNames.map((n) => sum(n, f)));
  rows.push({
    kind: 'node total',
    perNode: spread(nodeNames.map((n) => samples.filter((x) => x.node === n).length)),
    ...opt('cpuPct', per((x) => x.cpuPct)),
    ...opt('rssMiB', per((x) => MiB(x.mem.rss))),
    ...opt('pssMiB', per((x) => MiB(x.mem.pss))),
    ...opt('privateMiB', per((x) => MiB(x.mem.private))),
    ...opt('wakeupsPerSec', per((x) => x.wakeupsPerSec ?? 0)),
    ...opt('writeKiBPerMin', per((x) => x.writeKiBPerMin ?? 0)),
  });
  return rows;
}

function opt<K extends string>(key: K, v: Spread | undefined): Partial<Record<K, Spread>> {
  return v ? ({ [key]: v } as Record<K, Spread>) : {};
}

const cell = (s: Spread | undefined, digits: number) => (s ? `${s.median.toFixed(digits)} / ${s.max.toFixed(digits)}` : '-').padEnd(16);

const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`;
const shape = { bench: 'footprint', machine, nodes, nat, helloSec: hello, settleMinutes: minutes, sampleSeconds };
try {
  const measure = async (lab: LabHandle) => {
    const m = lab.manifest;
    const coldStartMs = m.daemonsStartedAtMs !== undefined && m.convergedAtMs !== undefined ? m.convergedAtMs - m.daemonsStartedAtMs : null;
    log(`converged ${coldStartMs === null ? '?' : (coldStartMs / 1000).toFixed(2)} s after the daemons started; idling ${minutes} min`);
    await delay(minutes * 60_000);
    const procs = await labProcesses(lab);
    log(`sampling ${procs.length} processes for ${sampleSeconds} s (load ${loadavg()[0]?.toFixed(1)})`);
    const samples = await sample(procs, sampleSeconds);
    return { lab: lab.id, nodes: lab.nodes.length, helloSec: m.hello, coldStartMs, samples, rows: kindRows(samples, lab.nodes.map((n) => n.name)), load: loadavg()[0] ?? null };
  };
  const result = attach ? await measure(LabHandle.attach(attach, log)) : await withLab({ ...(id ? { id } : {}), nodes, nat, helloSec: hello, log, reachTimeoutMs: 60_000 + 4_000 * nodes }, measure);
  console.log(`footprint: lab ${result.lab}, ${result.nodes} nodes, hello ${result.helloSec} s, idle ${minutes} min then ${sampleSeconds} s sampled, ${machine}, load ${result.load?.toFixed(1)}`);
  console.log(`cold start (daemons started -> all pairs): ${result.coldStartMs === null ? '-' : (result.coldStartMs / 1000).toFixed(2)} s`);
  console.log('per node:  daemon CPU %  RSS  PSS  private MiB | openvpn n  CPU %  PSS MiB (sums) | babeld CPU %  PSS MiB');
  for (const n of [...new Set(result.samples.map((s) => s.node))]) {
    const of = (k: string) => result.samples.filter((s) => s.node === n && s.kind === k);
    const [d] = of('daemon');
    const o = of('openvpn');
    const [b] = of('babeld');
    const dText = d ? `${d.cpuPct.toFixed(2).padStart(6)} ${MiB(d.mem.rss).toFixed(1).padStart(6)} ${MiB(d.mem.pss).toFixed(1).padStart(6)} ${MiB(d.mem.private).toFixed(1).padStart(6)}` : '     -';
    const oText = `${String(o.length).padStart(3)} ${o.reduce((a, x) => a + x.cpuPct, 0).toFixed(2).padStart(6)} ${MiB(o.reduce((a, x) => a + x.mem.pss, 0)).toFixed(1).padStart(6)}`;
    const bText = b ? `${b.cpuPct.toFixed(2).padStart(6)} ${MiB(b.mem.pss).toFixed(1).padStart(5)}` : '     -';
    console.log(`  ${n.padEnd(6)} ${dText} | ${oText} | ${bText}`);
  }
  console.log('per process kind (median / max):');
  console.log(`  ${'kind'.padEnd(11)} ${'per node'.padEnd(16)} ${'CPU %'.padEnd(16)} ${'RSS MiB'.padEnd(16)} ${'PSS MiB'.padEnd(16)} ${'private MiB'.padEnd(16)} ${'wake-ups/s'.padEnd(16)} ${'disk KiB/min'.padEnd(16)}`);
  for (const r of result.rows) console.log(`  ${r.kind.padEnd(11)} ${cell(r.perNode, 0)} ${cell(r.cpuPct, 2)} ${cell(r.rssMiB, 1)} ${cell(r.pssMiB, 1)} ${cell(r.privateMiB, 1)} ${cell(r.wakeupsPerSec, 1)} ${cell(r.writeKiBPerMin, 0)}`);
  console.log(JSON.stringify({ ...shape, lab: result.lab, nodes: result.nodes, helloSec: result.helloSec, attached: attach !== undefined, ok: true, coldStartMs: result.coldStartMs, load: result.load, kinds: result.rows, processes: result.samples }));
} catch (err) {
  const error = (err as Error).message.split('\n')[0] ?? String(err);
  console.log(`footprint: ${nodes} nodes, ${machine}: no figures: ${error}`);
  console.log(JSON.stringify({ ...shape, ok: false, error }));
  process.exitCode = 1;
}
