// Readiness as systemd sees it, with a real daemon in a two-node namespace lab:
// the daemon of node b runs with NOTIFY_SOCKET pointing at a fake manager (a unix
// datagram listener) and a watchdog period, as under a Type=notify unit.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { NodeLab, editFile, nodeCli, registerNode, startDaemon, startRegistry, testNodeConfig, tunnelUp, type RunningNode } from '../daemon/node/netlab.js';
import { waitFor } from '../fixtures/wait.js';
import { BUILT_CLI } from '../fixtures/built-cli.js';
import { fakeNotifySocket } from './notify-socket.js';

const WATCHDOG_USEC = 4_000_000;

/** The unit's CapabilityBoundingSet as setpriv's --bounding-set (e.g. -all,+net_admin,+net_raw). */
function unitBoundingSet(): string {
  const unit = readFileSync(resolve(import.meta.dirname, '../../systemd/resilnet.service'), 'utf8');
  const caps = /^CapabilityBoundingSet=(.+)$/m.exec(unit)?.[1]?.trim().split(/\s+/);
  if (!caps?.length) throw new Error('systemd/resilnet.service has no CapabilityBoundingSet=');
  return ['-all', ...caps.map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`)].join(',');
}

test.serial('READY=1 once babeld is configured and the registry answered; STATUS on the way; WATCHDOG=1 while it runs; STOPPING=1; children send nothing; all with only the unit\'s capabilities', async (t) => {
  const socket = await fakeNotifySocket();
  t.teardown(() => socket.stop());
  const lab = await NodeLab.create(t);
  const registry = await startRegistry(lab, await lab.addHost('reg'), ['babel.hello_interval=1']);
  const hostA = await lab.addHost('a');
  const hostB = await lab.addHost('b');
  const cfgA = await registerNode(lab, registry, hostA);
  const cfgB = await registerNode(lab, registry, hostB);
  editFile(cfgA, testNodeConfig);
  editFile(cfgB, testNodeConfig);
  const a = await startDaemon(lab, hostA, cfgA);

  // As the unit runs it: no new privileges, only the capabilities its bounding set leaves (root keeps just those).
  const confine = ['setpriv', '--no-new-privs', `--bounding-set=${unitBoundingSet()}`];
  const proc = lab.spawnIn(hostB, [...confine, 'env', `NOTIFY_SOCKET=${socket.path}`, `WATCHDOG_USEC=${WATCHDOG_USEC}`, ...BUILT_CLI, 'daemon', '--config', cfgB], 'daemon');
  const ready = await waitFor(() => socket.datagrams.find((d) => d.fields.READY === '1'), { what: 'READY=1 from b', timeoutMs: 180_000 });
  const b: RunningNode = { host: hostB, configPath: cfgB, proc, prefix: '', address: '' };
  const status = await nodeCli(lab, b, 'status');
  t.log(`READY=1 STATUS=${ready.fields.STATUS}`);
  // What readiness means, checked against the daemon's own view once it said so.
  t.true(status.babeld.answering);
  t.is(typeof status.babeld.helloIntervalSec, 'number');
  t.is(typeof status.registry.lastContactMs, 'number');
  // The registry answered before READY=1: not the STATUS of a node declared up without contact.
  t.regex(ready.fields.STATUS ?? '', /^running: \d+ tunnels? .*, registry ok$/);
  const before = socket.datagrams.slice(0, socket.datagrams.indexOf(ready));
  t.true(before.some((d) => d.fields.STATUS?.startsWith('starting: ')), JSON.stringify(before));

  // A tunnel (openvpn, built with libsystemd, would report READY=1 and MAINPID itself if it saw NOTIFY_SOCKET).
  await waitFor(() => tunnelUp(lab, { ...b, prefix: status.prefix, address: status.address }, a), { what: 'b-a tunnel up', timeoutMs: 90_000 });
  const pingsAfterReady = () => socket.datagrams.filter((d) => d.atMs >= ready.atMs && d.fields.WATCHDOG === '1').length;
  await waitFor(() => pingsAfterReady() >= 3, { what: 'three WATCHDOG=1 after READY=1', timeoutMs: 60_000 });
  t.is(socket.datagrams.filter((d) => d.fields.READY === '1').length, 1);
  t.false(socket.datagrams.some((d) => 'MAINPID' in d.fields), JSON.stringify(socket.datagrams.filter((d) => 'MAINPID' in d.fields)));

  proc.child.kill('SIGTERM');
  t.is(await proc.exited, 0);
  t.true(socket.datagrams.some((d) => d.fields.STOPPING === '1'));

  // The children's output is in the daemon's log at info: openvpn's line that completes a tunnel.
  const records = readFileSync(proc.logPath, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const completed = records.find((r) => r.component === 'children' && r.msg === 'Initialization Sequence Completed');
  t.truthy(completed, 'openvpn output in the log');
  t.is(completed!.level, 30);
  t.regex(String(completed!.child), /^openvpn /);
});
