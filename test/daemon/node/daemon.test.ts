// The real daemon in network namespaces: a real registry, `resilnet register`,
// `resilnet daemon` with real openvpn and babeld, and the real CLI to inspect it.
import test from 'ava';
import { existsSync } from 'node:fs';
import {
  NodeLab,
  editFile,
  nodeCli,
  pings,
  registerNode,
  run,
  runOk,
  startDaemon,
  startNetwork,
  sharedNetwork,
  startRegistry,
  testNodeConfig,
  tunnelUp,
} from './netlab.js';
import { captureBabelHellos, type BabelHello, type HelloCapture } from '../../fixtures/babel-hellos.js';
import { waitFor } from '../../fixtures/wait.js';

// One pair for the file's last three tests, in this order: the openvpn restart, the
// registry outage and the SIGTERM clean-up. Each leaves a and b with their tunnel up
// and reaching (the next one waits for that first), except the last, which stops a.
const pair = sharedNetwork(test, ['a', 'b'], ['babel.hello_interval=1']);

test.serial('four nodes with two outgoing tunnels each reach all pairs', async (t) => {
  const names = ['a', 'b', 'c', 'd'];
  const { lab, nodes } = await startNetwork(t, names, ['babel.hello_interval=1', 'client_count=2']);
  for (const x of names) {
    for (const y of names) {
      if (x === y) continue;
      await waitFor(() => pings(lab, nodes.get(x)!, nodes.get(y)!), { what: `${x} pings ${y}`, timeoutMs: 90_000 });
    }
  }
  for (const x of names) {
    const { tunnels } = await nodeCli(lab, nodes.get(x)!, 'tunnels');
    t.true(tunnels.filter((tt: any) => tt.direction === 'outgoing').length <= 2, `${x}: ${JSON.stringify(tunnels)}`);
  }
});

test.serial('a peer that cannot be reached shows in peers --dead with its reason', async (t) => {
  const lab = await NodeLab.create(t);
  const registry = await startRegistry(lab, await lab.addHost('reg'), ['babel.hello_interval=1']);
  const hostA = await lab.addHost('a');
  const hostGhost = await lab.addHost('ghost');
  const cfgA = await registerNode(lab, registry, hostA);
  const cfgGhost = await registerNode(lab, registry, hostGhost);
  editFile(cfgA, testNodeConfig);
  editFile(cfgGhost, testNodeConfig);
  // The ghost talks to the registry (TCP), but no UDP passes between it and a.
  const rules = `table inet rntest { chain in { type filter hook input priority 0; ip saddr ${hostA.underlayIp} meta l4proto udp drop; }; chain out { type filter hook output priority 0; ip daddr ${hostA.underlayIp} meta l4proto udp drop; }; }`;
  // By absolute path: under npx, node_modules/.bin holds an unrelated `nft` (@vercel/nft).
  const nft = await run(['ip', 'netns', 'exec', hostGhost.ns, '/usr/sbin/nft', rules]);
  if (nft.code !== 0) throw new Error(`nft failed: ${JSON.stringify(nft)} ${rules}`);
  const ghost = await startDaemon(lab, hostGhost, cfgGhost);
  const a = await startDaemon(lab, hostA, cfgA);
  const dead = await waitFor(async () => {
    const { peers } = await nodeCli(lab, a, 'peers', '--dead');
    const p = peers.find((x: any) => x.prefix === ghost.prefix);
    if (!p) throw new Error(`dead peers: ${JSON.stringify(peers)}`);
    return p;
  }, { what: 'ghost marked dead on a', timeoutMs: 150_000, intervalMs: 2_000 });
  t.true(dead.dead);
  t.regex(dead.deadReason, /^3 failed attempts \(no answer to tunnel-request at /);
  t.is(dead.failures, 3);
  t.is(typeof dead.deadSinceMs, 'number');
  t.is(typeof dead.nextRetryMs, 'number');
  const { events } = await nodeCli(lab, a, 'events');
  t.true(events.some((e: any) => e.text.startsWith(`peer ${ghost.prefix} marked dead: 3 failed attempts (`)), JSON.stringify(events.map((e: any) => e.text)));
  // The registry still sees the ghost, and a registry sighting revives a dead peer for another round of
  // attempts: the text table is read until it shows the ghost dead again.
  const row = new RegExp(`${ghost.prefix.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} +\\S+ +3 failed attempts`);
  const text = await waitFor(async () => {
    const out = (await lab.cli(a.host, ['peers', '--dead', '--config', a.configPath])).stdout;
    if (!row.test(out)) throw new Error(out);
    return out;
  }, { what: 'the ghost in the text table of peers --dead', timeoutMs: 150_000, intervalMs: 2_000 });
  t.regex(text, row);
});

/** Waits until `capture` holds `count` hellos of `intervalCs` sent after the first `from`; returns them. */
function hellosAt(capture: HelloCapture, from: number, intervalCs: number, count: number): Promise<BabelHello[]> {
  return waitFor(() => {
    const sent = capture.hellos.slice(from);
    const matching = sent.filter((h) => h.intervalCs === intervalCs);
    if (matching.length < count) throw new Error(`${matching.length} of ${sent.length} hellos sent since at ${intervalCs} cs; intervals: ${sent.slice(-8).map((h) => h.intervalCs).join(' ')}`);
    return matching;
  }, { what: `${count} hellos with interval ${intervalCs} cs`, timeoutMs: 60_000 });
}

test.serial('changing babel.hello_interval and reloading changes the interval in babeld\'s hellos, no tunnel dropped', async (t) => {
  const { lab, nodes, configs } = await startNetwork(t, ['a', 'b'], ['babel.hello_interval=2']);
  const a = nodes.get('a')!;
  const b = nodes.get('b')!;
  const tunnel = await waitFor(() => tunnelUp(lab, a, b), { what: 'a-b tunnel up', timeoutMs: 60_000 });
  await waitFor(() => pings(lab, a, b), { what: 'a pings b', timeoutMs: 60_000 });
  // What a's babeld puts on the wire: the interval field of its hellos on the tunnel.
  const capture = await captureBabelHellos(a.host.ns, tunnel.interface);
  t.teardown(() => capture.stop());
  await hellosAt(capture, 0, 200, 2);

  editFile(configs.get('a')!, (text) => text.replace('# hello_interval = 1', 'hello_interval = 0.25'));
  const reloadAtMs = Date.now();
  const r = await lab.cli(a.host, ['reload', '--json', '--config', a.configPath]);
  t.is(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  t.deepEqual(report.applied.map((i: any) => [i.key, i.from, i.to]), [['babel.hello_interval', null, 0.25]]);
  t.deepEqual(report.failed, []);
  const status = await nodeCli(lab, a, 'status');
  t.is(status.networkConfig.helloIntervalSec, 0.25);
  const afterReload = capture.hellos.length;
  await hellosAt(capture, afterReload, 25, 4);
  t.log(`hello intervals on ${tunnel.interface} after the reload: ${capture.hellos.slice(afterReload).map((h) => h.intervalCs).join(' ')} (cs)`);

  const after = await tunnelUp(lab, a, b);
  t.is(after.pid, tunnel.pid);
  t.is(after.openedAtMs, tunnel.openedAtMs);
  // The reload itself drops nothing (what happened before it, e.g. under load, is not its doing).
  const { events } = await nodeCli(lab, a, 'events');
  const sinceReload = events.filter((e: any) => e.atMs >= reloadAtMs).map((e: any) => e.text);
  t.true(sinceReload.some((text: string) => /^reload: applied .*babel\.hello_interval/.test(text)), JSON.stringify(sinceReload));
  t.false(sinceReload.some((text: string) => /^link with .* (lost|closed)/.test(text)), JSON.stringify(sinceReload));
  // babeld 1.12.1 applies a new hello interval only to an interface added again (flush + add, D2):
  // the routes through it are learned again from the peer's next hello and IHU, seconds later.
  await waitFor(() => pings(lab, a, b), { what: 'a pings b after the reload', timeoutMs: 30_000 });

  // SIGHUP is the same reload: dropping the override brings back the network's 2 s, in status and on the wire.
  editFile(configs.get('a')!, (text) => text.replace('hello_interval = 0.25', '# hello_interval = 1'));
  const beforeHup = capture.hellos.length;
  a.proc.child.kill('SIGHUP');
  await waitFor(async () => {
    const s = await nodeCli(lab, a, 'status');
    if (s.networkConfig.helloIntervalSec !== 2) throw new Error(`hello still ${s.networkConfig.helloIntervalSec}`);
    return true;
  }, { what: 'the SIGHUP reload applied', timeoutMs: 20_000 });
  await hellosAt(capture, beforeHup, 200, 2);
  t.is((await tunnelUp(lab, a, b)).pid, tunnel.pid);
});

test.serial('a revoked node: its tunnels are torn down and it is marked dead', async (t) => {
  const { lab, nodes, registry } = await startNetwork(t, ['a', 'b'], ['babel.hello_interval=1']);
  const a = nodes.get('a')!;
  const b = nodes.get('b')!;
  await waitFor(() => tunnelUp(lab, a, b), { what: 'a-b tunnel up', timeoutMs: 60_000 });
  const r = await lab.cli(registry.host, ['registry', 'revoke', '--dir', registry.dir, b.prefix]);
  t.is(r.code, 0, r.stderr);
  const dead = await waitFor(async () => {
    const { peers } = await nodeCli(lab, a, 'peers', '--dead');
    const p = peers.find((x: any) => x.prefix === b.prefix);
    if (!p) throw new Error(`dead: ${JSON.stringify(peers)}`);
    return p;
  }, { what: 'b marked dead on a', timeoutMs: 60_000 });
  t.regex(dead.deadReason, /revoked/);
  const { tunnels } = await nodeCli(lab, a, 'tunnels');
  t.false(tunnels.some((x: any) => x.peer === b.prefix), JSON.stringify(tunnels));
  const { events } = await nodeCli(lab, a, 'events');
  t.true(events.some((e: any) => /^network config version \d+ adopted/.test(e.text)), JSON.stringify(events.map((e: any) => e.text)));
});

test.serial('a killed openvpn child is restarted and reachability returns', async (t) => {
  const { lab, nodes } = await pair(t);
  const a = nodes.get('a')!;
  const b = nodes.get('b')!;
  const before = await waitFor(() => tunnelUp(lab, a, b), { what: 'a-b tunnel up', timeoutMs: 60_000 });
  await waitFor(() => pings(lab, a, b), { what: 'a pings b', timeoutMs: 60_000 });
  t.is(typeof before.pid, 'number');
  // The pid comes from a's own control API: the openvpn of this tunnel only.
  process.kill(before.pid, 'SIGKILL');
  await waitFor(async () => {
    const now = await tunnelUp(lab, a, b);
    if (now.pid === before.pid) throw new Error(`still pid ${now.pid}`);
    return true;
  }, { what: 'the openvpn child restarted', timeoutMs: 60_000 });
  await waitFor(() => pings(lab, a, b), { what: 'a pings b again', timeoutMs: 60_000 });
  const { events } = await nodeCli(lab, a, 'events');
  t.true(events.some((e: any) => /killed by SIGKILL; restarting/.test(e.text)), JSON.stringify(events.map((e: any) => e.text)));
});

test.serial('two nodes form a tunnel and reach each other\'s overlay address, also while the registry is down', async (t) => {
  const { lab, nodes, registry } = await pair(t);
  const a = nodes.get('a')!;
  const b = nodes.get('b')!;
  await waitFor(() => tunnelUp(lab, a, b), { what: 'a-b tunnel up', timeoutMs: 60_000 });
  await waitFor(() => pings(lab, a, b), { what: 'a pings b', timeoutMs: 60_000 });
  await waitFor(() => pings(lab, b, a), { what: 'b pings a', timeoutMs: 30_000 });
  const { events } = await nodeCli(lab, a, 'events');
  t.true(events.some((e: any) => e.text.startsWith(`link with ${b.prefix} established via `)), JSON.stringify(events.map((e: any) => e.text)));

  registry.proc.child.kill('SIGTERM');
  await registry.proc.exited;
  await waitFor(async () => {
    const status = await nodeCli(lab, a, 'status');
    if (!status.registry.lastError) throw new Error('no registry error yet');
    return true;
  }, { what: 'a notices the registry is gone', timeoutMs: 30_000 });
  await pings(lab, a, b);
  await pings(lab, b, a);
  await tunnelUp(lab, a, b);
});

test.serial('after SIGTERM nothing of the daemon is left: processes, interfaces, routes, socket', async (t) => {
  const { lab, nodes } = await pair(t);
  const a = nodes.get('a')!;
  const b = nodes.get('b')!;
  await waitFor(() => tunnelUp(lab, a, b), { what: 'a-b tunnel up', timeoutMs: 60_000 });
  await waitFor(() => pings(lab, a, b), { what: 'a pings b', timeoutMs: 60_000 });
  const status = await nodeCli(lab, a, 'status');
  const socket = `${a.configPath.replace(/resilnet\.toml$/, '')}run/control.sock`;
  t.true(existsSync(socket));

  a.proc.child.kill('SIGTERM');
  const code = await a.proc.exited;
  t.is(code, 0);

  t.deepEqual(await lab.nsPids(a.host), [], 'no process left in a\'s namespace');
  const links = await runOk(['ip', '-n', a.host.ns, '-o', 'link', 'show']);
  const names = links.split('\n').filter(Boolean).map((l) => l.split(':')[1]!.trim().split('@')[0]);
  t.deepEqual(names.sort(), ['eth0', 'lo']);
  // runOk: a failing `ip` must not read as "nothing left".
  const routes = await runOk(['ip', '-n', a.host.ns, '-6', 'route', 'show', 'table', 'all']);
  t.false(routes.includes(status.networkPrefix), routes);
  t.false(routes.includes('proto babel'), routes);
  const addrs = await runOk(['ip', '-n', a.host.ns, '-6', 'addr', 'show', 'dev', 'lo']);
  t.regex(addrs, /\binet6 ::1\/128\b/, 'lo is still there and listed');
  t.false(addrs.includes(status.address), addrs);
  t.false(existsSync(socket), 'control socket removed');
});
