// Where a daemon's CPU went, from a `node --cpu-prof` file: self time per
// function (top N) and inclusive time per group of work (link hellos, babel
// monitor, timers, spawns, …), optionally over a window of the profile only
// (e.g. the idle minutes after convergence), as µs of CPU per second of wall time.
//   node --import tsx bench/cpuprofile-summary.ts FILE.cpuprofile [--from-s 120] [--to-s 400] [--top 25]
// Prints tables and, as its last line, one JSON object.
import { readFileSync } from 'node:fs';
import { groupOf, summarizeProfile, type CpuProfile } from '../lab/cpuprofile.js';

function numArg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const n = Number(process.argv[i + 1]);
  if (!Number.isFinite(n)) throw new Error(`--${name} must be a number (got ${process.argv[i + 1]})`);
  return n;
}

const file = process.argv[2];
if (!file || file.startsWith('--')) {
  console.error('usage: cpuprofile-summary FILE.cpuprofile [--from-s S] [--to-s S] [--top N]');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
const s = summarizeProfile(profile, { fromMs: numArg('from-s', 0) * 1000, toMs: numArg('to-s', Infinity) * 1000 }, groupOf);
const top = numArg('top', 25);
const perSec = (us: number) => (us / (s.wallMs / 1000)).toFixed(0).padStart(7);
console.log(`window ${(s.wallMs / 1000).toFixed(1)} s wall, ${(s.busyUs / 1000).toFixed(1)} ms busy (not idle) = ${perSec(s.busyUs)} µs/s, ${s.samples} samples`);
console.log('groups (inclusive: a sample counts for the first group found from the leaf up), µs/s:');
for (const [g, us] of [...s.groups].sort((a, b) => b[1] - a[1])) console.log(`  ${perSec(us)}  ${g}`);
console.log(`top ${top} functions by self time, µs/s:`);
for (const f of s.functions.slice(0, top)) console.log(`  ${perSec(f.selfUs)}  ${f.name}  ${f.where}`);
console.log(JSON.stringify({ wallMs: s.wallMs, busyUs: s.busyUs, groupsUsPerSec: Object.fromEntries([...s.groups].map(([g, us]) => [g, Math.round(us / (s.wallMs / 1000))])), top: s.functions.slice(0, top).map((f) => ({ name: f.name, where: f.where, usPerSec: Math.round(f.selfUs / (s.wallMs / 1000)) })) }));
