// The lab's underlay on its own (no registry, no daemons): namespaces, NAT with
// masquerade, miniupnpd answering from behind the NAT, two labs side by side,
// and a teardown from the manifest alone that leaves nothing behind.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { labDown, labUp } from '../../lab/lab.js';
import type { LabManifest } from '../../lab/manifest.js';
import { labDir, readManifest } from '../../lab/manifest.js';
import { isRunning } from '../../lab/procs.js';
import { findRepo } from '../../lab/repo.js';

const run = promisify(execFile);
const repo = findRepo();

async function namespaces(): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list']);
  return stdout.split('\n').map((l) => l.split(' ')[0] ?? '').filter(Boolean);
}

async function netUp(t: { teardown(fn: () => Promise<void>): void }, nodes = 3, nat = 1): Promise<LabManifest> {
  const id = `t${randomBytes(3).toString('hex')}`;
  t.teardown(async () => {
    if (existsSync(labDir(id))) await labDown(id);
  });
  return labUp({ id, nodes, nat, networkOnly: true });
}

const inNs = (netns: string, ...argv: string[]) => run('ip', ['netns', 'exec', netns, ...argv], { timeout: 20_000 });

test.serial('NAT: the node behind the router reaches the internet masqueraded, and cannot be reached directly', async (t) => {
  const m = await netUp(t);
  const pub = m.layout.nodes.find((n) => !n.gateway)!;
  const nat = m.layout.nodes.find((n) => n.gateway)!;
  const gw = m.layout.gateways[0]!;
  // A UDP listener on the public node reports who it saw.
  const listener = inNs(pub.netns, process.execPath, '-e', `
    const s = require('node:dgram').createSocket('udp4');
    s.on('message', (msg, r) => { console.log(r.address); process.exit(0); });
    s.bind(4000, '${pub.underlay}', () => console.log('ready'));
    setTimeout(() => process.exit(3), 15000);
  `);
  // Send until the listener answers (it may not be bound yet).
  let seen = '';
  void listener.then((r) => (seen = r.stdout));
  const deadline = Date.now() + 15_000;
  while (!seen.includes('.') || seen.trim() === 'ready') {
    if (Date.now() > deadline) break;
    await inNs(nat.netns, process.execPath, '-e', `
      const s = require('node:dgram').createSocket('udp4');
      s.send('hi', 4000, '${pub.underlay}', () => s.close());
    `);
    await Promise.race([listener, new Promise((r) => setTimeout(r, 200))]);
  }
  const lines = seen.trim().split('\n');
  t.is(lines.at(-1), gw.wan, 'the public host sees the router\'s WAN address');
  await t.throwsAsync(inNs(pub.netns, 'ping', '-c', '1', '-W', '1', nat.underlay), undefined, 'no route into the NAT\'s LAN');
});

test.serial('UPnP: miniupnpd on the router maps a port for the node behind it (upnpc -i)', async (t) => {
  const m = await netUp(t);
  const nat = m.layout.nodes.find((n) => n.gateway)!;
  const gw = m.layout.gateways[0]!;
  const add = await inNs(nat.netns, 'upnpc', '-i', '-e', 'resilnet-test', '-a', nat.underlay, '1194', '1194', 'UDP', '600');
  t.regex(add.stdout, new RegExp(`ExternalIPAddress = ${gw.wan.replaceAll('.', '\\.')}`));
  t.regex(add.stdout, /is redirected to internal/);
  const list = await inNs(nat.netns, 'upnpc', '-i', '-l');
  t.regex(list.stdout, new RegExp(`UDP\\s+1194->${nat.underlay.replaceAll('.', '\\.')}:1194`));
  const rules = await inNs(gw.netns, '/usr/sbin/nft', 'list', 'chain', 'inet', 'filter', 'prerouting_miniupnpd');
  t.regex(rules.stdout, new RegExp(`dnat ip to ${nat.underlay.replaceAll('.', '\\.')}:1194`));
});

test.serial('two labs at once, each with its own names; a taken name is refused', async (t) => {
  const a = await netUp(t, 2, 0);
  const b = await netUp(t, 2, 1);
  const ns = await namespaces();
  for (const n of [...a.namespaces, ...b.namespaces]) t.true(ns.includes(n), n);
  const err = await t.throwsAsync(labUp({ id: a.id, nodes: 2, nat: 0, networkOnly: true }));
  t.is((err as { code?: string }).code, 'RN_LAB_NAME_IN_USE');
  // The refused attempt must not have harmed the running lab.
  t.true(readManifest(a.id).processes.every(isRunning));
  t.deepEqual((await namespaces()).filter((n) => n.startsWith(`rn${a.id}-`)).sort(), [...a.namespaces].sort());
});

test.serial('lab down from another process (the CLI) after the building process is gone leaves nothing behind', async (t) => {
  const m = await netUp(t, 3, 2);
  const pids = m.processes;
  t.true(pids.length >= 3, 'stund + 2 miniupnpd');
  // Something the lab did not record, but that lives in its namespace, goes too.
  const stray = run('ip', ['netns', 'exec', m.layout.nodes[0]!.netns, 'sleep', '300']).catch(() => undefined);
  const { stdout } = await run(process.execPath, [join(repo, 'bin', 'resilnet'), 'lab', 'down', '--name', m.id, '--json'], { timeout: 60_000 });
  const [report] = JSON.parse(stdout) as Array<{ namespacesRemoved: string[]; strayProcessesStopped: number }>;
  t.deepEqual([...report!.namespacesRemoved].sort(), [...m.namespaces].sort());
  t.is(report!.strayProcessesStopped, 1);
  await stray;
  t.deepEqual((await namespaces()).filter((n) => n.startsWith(`rn${m.id}-`)), []);
  for (const p of pids) t.false(isRunning(p), `${p.role} ${p.pid}`);
  t.false(existsSync(labDir(m.id)));
});
