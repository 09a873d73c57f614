import { cpSync, mkdirSync } from 'node:fs';
import { LabHandle } from '../lab/handle.js';
import { failoverScenario } from '../lab/scenarios.js';
const kind = (process.argv[2] ?? 'exit') as 'exit' | 'freeze';
const tag = process.argv[3] ?? 'fo';
const runs = Number(process.argv[4] ?? '3');
const T0 = Date.now();
const log = (l: string) => process.stderr.write(`  ${((Date.now() - T0) / 1000).toFixed(2)} ${l}\n`);
for (let r = 0; r < runs; r++) {
  const lab = await LabHandle.up({ nodes: 5, nat: 0, helloSec: 1, log });
  try {
    const t = Date.now();
    const res = await failoverScenario(lab, log, kind);
    console.log(JSON.stringify({ run: r, outageMs: res.outageMs, lost: res.lostPackets, from: res.from, to: res.to, cutAt: t }));
    const out = `/tmp/rnperf/${tag}-${r}`;
    mkdirSync(out, { recursive: true });
    for (const node of lab.manifest.nodes) cpSync(`${node.dir}/daemon.log`, `${out}/${node.name}.log`);
  } finally {
    await lab.down();
  }
}
