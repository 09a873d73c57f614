// The CPU a daemon uses from its process start to its first log line, without a
// lab: `bin/resilnet daemon` runs with a config whose identity files do not
// exist, so its first line is the failed start right after the config, the
// logger and the node's services; a preload (exit-at-first-line.mjs) reads the
// CPU at that line and exits. With `--repos A,B` the runs alternate between the
// builds of two checkouts, so old and new code meet the same load.
//   npm run bench:startup-cpu [-- --runs 10 --repos /path/old,/path/new]
// Prints a table and, as its last line, one JSON object.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findRepo } from '../lab/repo.js';
import { median } from '../lab/start-timeline.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? (process.argv[i + 1] as string) : fallback;
}

const runs = Number(arg('runs', '10'));
const repos = arg('repos', findRepo()).split(',');
if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs: a positive integer');
const preload = fileURLToPath(new URL('./exit-at-first-line.mjs', import.meta.url));

const dir = mkdtempSync(join(tmpdir(), 'rn-startup-cpu-'));
const config = join(dir, 'resilnet.toml');
writeFileSync(config, [
  '[identity]', 'ca = "absent-ca.crt"', 'cert = "absent-node.crt"', 'key = "absent-node.key"',
  '[registry]', 'url = "https://127.0.0.1:1"',
  '[node]', `state_dir = "${join(dir, 'state')}"`, `run_dir = "${join(dir, 'run')}"`, '',
].join('\n'));

interface Run { repo: string; cpuMs: number; wallMs: number; load: number }
const results: Run[] = [];
try {
  for (let r = 0; r < runs; r++) {
    for (const repo of repos) {
      const load = loadavg()[0] ?? 0;
      const p = spawnSync(process.execPath, ['--import', preload, join(repo, 'bin', 'resilnet'), 'daemon', '--config', config], { encoding: 'utf8', timeout: 120_000 });
      const line = p.stderr.split('\n').find((l) => l.startsWith('{"firstLineCpuMs"'));
      if (!line) throw new Error(`${repo}: the daemon wrote no log line (exit ${p.status}): ${p.stderr.slice(0, 300)}`);
      const m = JSON.parse(line) as { firstLineCpuMs: number; firstLineWallMs: number };
      results.push({ repo, cpuMs: Math.round(m.firstLineCpuMs), wallMs: Math.round(m.firstLineWallMs), load: Number(load.toFixed(1)) });
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`;
const summary = repos.map((repo) => {
  const mine = results.filter((r) => r.repo === repo);
  return { repo, cpuMs: median(mine.map((r) => r.cpuMs)), wallMs: median(mine.map((r) => r.wallMs)), cpuRangeMs: [Math.min(...mine.map((r) => r.cpuMs)), Math.max(...mine.map((r) => r.cpuMs))], loads: mine.map((r) => r.load) };
});
console.log(`process start -> first log line, median of ${runs} runs, ${machine}`);
console.log('build                                  CPU (ms)  range      wall (ms)  load');
for (const s of summary) console.log(`${s.repo.padEnd(38)} ${String(s.cpuMs).padEnd(9)} ${s.cpuRangeMs.join('-').padEnd(10)} ${String(s.wallMs).padEnd(10)} ${Math.min(...s.loads)}-${Math.max(...s.loads)}`);
console.log(JSON.stringify({ bench: 'startup-cpu', machine, summary, runs: results }));
