// temporary: one convergence run, daemon logs copied for analysis
import { cpSync, mkdirSync } from 'node:fs';
import { LabHandle } from '../lab/handle.js';
const n = Number(process.argv[2] ?? '16');
const tag = process.argv[3] ?? 'run';
const T0 = Date.now();
// Route sampler: when does each node's babel have routes to all others?
const { readdirSync, readFileSync: rf, statSync: st } = await import('node:fs');
const { execFileSync } = await import('node:child_process');
const full = new Map<string, number>();
let sampling = true;
const sampler = (async () => {
  let m: any;
  while (sampling && !m) {
    await new Promise((r) => setTimeout(r, 200));
    const ids = readdirSync('/tmp/resilnet-lab').filter((d) => { try { return st(`/tmp/resilnet-lab/${d}/manifest.json`).mtimeMs > T0; } catch { return false; } });
    for (const id of ids) { try { const x = JSON.parse(rf(`/tmp/resilnet-lab/${id}/manifest.json`, 'utf8')); if (x.daemonsStartedAtMs) m = x; } catch {} }
  }
  while (sampling && m && full.size < m.nodes.length) {
    for (const node of m.nodes) {
      if (full.has(node.name)) continue;
      try {
        const out = execFileSync('ip', ['-n', node.netns, '-6', 'route', 'show', 'proto', 'babel'], { encoding: 'utf8' });
        const via = out.split('\n').filter((l) => l.includes(' via ')).length;
        if (via >= m.nodes.length - 1) full.set(node.name, (Date.now() - m.daemonsStartedAtMs) / 1000);
      } catch {}
    }
    await new Promise((r) => setTimeout(r, 300));
  }
})();
const lab = await LabHandle.up({ nodes: n, nat: 2, helloSec: 1, reachTimeoutMs: 180_000, log: (l) => process.stderr.write(`  ${((Date.now() - T0) / 1000).toFixed(2)} ${l}\n`) });
sampling = false;
await sampler;
console.error('routes complete per node (s):', [...full].map(([k, v]) => `${k}:${v.toFixed(1)}`).join(' '), 'max', Math.max(...full.values()).toFixed(2));
try {
  const m = lab.manifest;
  console.log(JSON.stringify({ tag, nodes: n, convergedMs: m.convergedAtMs! - m.daemonsStartedAtMs!, startedAt: m.daemonsStartedAtMs }));
  const out = `/tmp/rnperf/${tag}`;
  mkdirSync(out, { recursive: true });
  for (const node of m.nodes) cpSync(`${node.dir}/daemon.log`, `${out}/${node.name}.log`);
  const { readFileSync, readdirSync, readlinkSync } = await import('node:fs');
  const cpu = new Map<string, { n: number; ticks: number }>();
  const nsIno = new Set<string>();
  for (const node of m.nodes) { try { nsIno.add(readlinkSync(`/run/netns/${node.netns}`)); } catch {} }
  const nsOf = new Map<string, string>();
  const { statSync } = await import('node:fs');
  for (const node of m.nodes) { try { nsOf.set(`net:[${statSync(`/run/netns/${node.netns}`).ino}]`, node.name); } catch {} }
  for (const pid of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      const ns = readlinkSync(`/proc/${pid}/ns/net`);
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, 4).join(' ');
      const key = comm === 'node' || comm === 'MainThread' ? `${comm} ${nsOf.get(readlinkSync(`/proc/${pid}/ns/net`)) ?? ''} ${cmd.slice(-60)} u${f[11]} s${f[12]} cu${f[13]} cs${f[14]}` : comm;
      const c = cpu.get(key) ?? { n: 0, ticks: 0 };
      c.n++; c.ticks += ticks; cpu.set(key, c);
      void ns;
    } catch {}
  }
  console.log(JSON.stringify([...cpu].filter(([k]) => /openvpn|babeld|node|MainThread/.test(k)).map(([k, v]) => ({ comm: k, procs: v.n, cpuSec: v.ticks / 100 }))));
  cpSync(`${lab.root}/${m.id}/manifest.json`, `${out}/manifest.json`);
} finally {
  await lab.down();
}
