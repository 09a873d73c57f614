import { cpSync, mkdirSync } from 'node:fs';
import { LabHandle } from '../lab/handle.js';
const n = Number(process.argv[2] ?? '4');
const tag = process.argv[3] ?? 'ovpn';
const t0 = Date.now();
const lab = await LabHandle.up({ nodes: n, nat: 0, helloSec: 1, reachTimeoutMs: 120_000, nodeConfigPatch: () => ({ node: { log_level: 'debug' } }), log: (l) => process.stderr.write(`  ${((Date.now() - t0) / 1000).toFixed(2)} ${l}\n`) });
try {
  const m = lab.manifest;
  console.log(JSON.stringify({ tag, nodes: n, convergedMs: m.convergedAtMs! - m.daemonsStartedAtMs! }));
  const out = `/tmp/rnperf/${tag}`;
  mkdirSync(out, { recursive: true });
  for (const node of m.nodes) cpSync(`${node.dir}/daemon.log`, `${out}/${node.name}.log`);
  cpSync(`${lab.root}/${m.id}/manifest.json`, `${out}/manifest.json`);
} finally {
  await lab.down();
}
