// Traffic-aware tunnel selection with the real daemon, openvpn, babeld and
// nftables in namespaces: a line a → b ← c (client_count 1; b opens nothing, c
// keeps b as a configured neighbour), then steady traffic from a to c through b.
// a's refresh (every 5 s) must replace its tunnel to b by a direct one to c and
// say so in its events; the direct tunnel then shows the flow in tunnels --json
// and, once old enough to be replaced, is kept as the busiest. a keeps the
// default minimum tunnel age (2 min) while the line is set up, so no refresh
// replaces a → b by a random pick first; once the flow is measured a reload
// lowers tunnels.min_age to 30 s, so neither replacement waits out 2 minutes.
// Not lower: the direct tunnel's traffic average (τ 60 s, starting once babel
// routes the flow over it) must pass the steady threshold by then, or the
// refresh would replace it as idle instead of keeping it as the busiest.
import test from 'ava';
import { spawn } from 'node:child_process';
import { NodeLab, editFile, nodeCli, pings, registerNode, run, startDaemon, startRegistry, testNodeConfig, tunnelUp, type RunningNode } from './netlab.js';
import { waitFor } from '../../fixtures/wait.js';

const eventTexts = async (lab: NodeLab, n: RunningNode): Promise<string[]> => (await nodeCli(lab, n, 'events')).events.map((e: any) => e.text);

test.serial('steady traffic to a non-adjacent node makes the tunnel manager open, then keep, a direct tunnel to it', async (t) => {
  t.timeout(15 * 60_000); // the waits' bounds add up to more than ava's default 5 min
  const lab = await NodeLab.create(t);
  const registry = await startRegistry(lab, await lab.addHost('reg'), ['babel.hello_interval=1', 'client_count=1', 'tunnel_refresh=5']);

  // b first, opening nothing itself; then a, whose one outgoing tunnel can only go to b.
  const hostB = await lab.addHost('b');
  const cfgB = await registerNode(lab, registry, hostB);
  editFile(cfgB, (text) => testNodeConfig(text).replace('# client_count = 4', 'client_count = 0'));
  const b = await startDaemon(lab, hostB, cfgB);
  const hostA = await lab.addHost('a');
  const cfgA = await registerNode(lab, registry, hostA);
  editFile(cfgA, testNodeConfig);
  const a = await startDaemon(lab, hostA, cfgA);
  await waitFor(() => tunnelUp(lab, a, b, 'outgoing'), { what: 'a → b tunnel up', timeoutMs: 90_000 });

  // c keeps b as a configured neighbour: its one tunnel is to b, never replaced.
  const hostC = await lab.addHost('c');
  const cfgC = await registerNode(lab, registry, hostC);
  editFile(cfgC, (text) => testNodeConfig(text).replace('neighbours = []', `neighbours = ["${b.prefix}"]`));
  const c = await startDaemon(lab, hostC, cfgC);
  t.log(`a=${a.prefix} b=${b.prefix} c=${c.prefix}`);
  await waitFor(() => tunnelUp(lab, c, b, 'outgoing'), { what: 'c → b tunnel up', timeoutMs: 90_000 });
  await waitFor(() => pings(lab, a, c), { what: 'a reaches c through b', timeoutMs: 90_000 });
  const before = await nodeCli(lab, a, 'tunnels');
  t.false(before.tunnels.some((x: any) => x.peer === c.prefix), `a is not adjacent to c yet: ${JSON.stringify(before.tunnels)}`);

  // ~60 kB/s each way (50 packets/s of 1200 B), for at most 10 minutes.
  const ping = spawn('ip', ['netns', 'exec', a.host.ns, 'ping', '-6', '-q', '-i', '0.02', '-s', '1200', '-w', '600', c.address], { stdio: 'ignore' });
  t.teardown(() => {
    if (ping.exitCode === null && ping.signalCode === null) ping.kill('SIGTERM');
  });

  // a measures the flow per destination (nftables) while its tunnel to b carries it.
  const measured = await waitFor(async () => {
    const { destinations } = await nodeCli(lab, a, 'tunnels');
    const d = (destinations ?? []).find((x: any) => x.prefix === c.prefix);
    if (!d || d.rxBytesPerSec + d.txBytesPerSec < 20_000) throw new Error(`destinations: ${JSON.stringify(destinations)}`);
    return d;
  }, { what: 'a measures steady traffic to c via b', timeoutMs: 60_000 });
  t.is(measured.via, b.prefix, JSON.stringify(measured));

  // A short minimum tunnel age, applied live: a → b is already older than that.
  editFile(cfgA, (text) => text.replace('# min_age = 120', 'min_age = 30'));
  const reload = await lab.cli(a.host, ['reload', '--json', '--config', a.configPath]);
  t.is(reload.code, 0, reload.stderr);
  const report = JSON.parse(reload.stdout);
  t.deepEqual(report.applied.map((i: any) => [i.key, i.from, i.to]), [['tunnels.min_age', 120, 30]]);
  t.deepEqual(report.failed, []);

  // Once a → b is old enough to be replaced, the refresh opens a → c for the flow.
  const line = await waitFor(async () => {
    const texts = await eventTexts(lab, a);
    const hit = texts.find((x) => x.startsWith(`tunnel to ${c.prefix} opened: carries `));
    if (!hit) throw new Error(`events: ${JSON.stringify(texts.slice(-8))}`);
    return hit;
  }, { what: 'a opens a tunnel to c for the traffic', timeoutMs: 300_000, intervalMs: 2_000 });
  t.log(line);
  t.regex(line, new RegExp(`^tunnel to ${esc(c.prefix)} opened: carries [\\d.]+ [kM]B/s of our traffic to it \\(was via ${esc(b.prefix)}\\)$`));

  await waitFor(async () => {
    await tunnelUp(lab, a, c, 'outgoing');
    const { destinations } = await nodeCli(lab, a, 'tunnels');
    const d = (destinations ?? []).find((x: any) => x.prefix === c.prefix);
    if (d?.via !== c.prefix) throw new Error(`destinations: ${JSON.stringify(destinations)}`);
    return true;
  }, { what: 'a → c tunnel up and carrying the flow', timeoutMs: 90_000 });
  // The tunnel to b was the one replaced: drained, then closed.
  await waitFor(async () => {
    const texts = await eventTexts(lab, a);
    if (!texts.some((x) => x.startsWith(`link with ${b.prefix} closed (refresh: lowest score`))) throw new Error(`events: ${JSON.stringify(texts.slice(-8))}`);
    return true;
  }, { what: 'a → b closed', timeoutMs: 90_000 });
  t.true(await lab.ping6(a.host, c.address), 'a still reaches c');
  // b's route back to a moves to c only as babel converges after the close: wait for it.
  await waitFor(async () => {
    if (!(await lab.ping6(a.host, b.address))) throw new Error('no answer from b');
    return true;
  }, { what: 'a reaches b again, now through c', timeoutMs: 60_000 });

  // Once a → c is past the minimum age (30 s), each refresh could replace it by b, but it carries
  // the flow: it is kept as the busiest, and a says so once.
  const kept = await waitFor(async () => {
    const texts = await eventTexts(lab, a);
    const hit = texts.filter((x) => x.startsWith(`tunnel with ${c.prefix} kept: busiest (`));
    if (hit.length === 0) throw new Error(`events: ${JSON.stringify(texts.slice(-8))}`);
    return hit;
  }, { what: 'a keeps the tunnel to c as the busiest', timeoutMs: 240_000, intervalMs: 2_000 });
  t.log(kept[0]);
  t.is(kept.length, 1, JSON.stringify(kept));
  await tunnelUp(lab, a, c, 'outgoing');

  // SIGTERM removes the daemon's nftables table with everything else.
  a.proc.child.kill('SIGTERM');
  t.is(await a.proc.exited, 0);
  const tables = await run(['ip', 'netns', 'exec', a.host.ns, '/usr/sbin/nft', 'list', 'tables']);
  t.is(tables.code, 0, tables.stderr);
  t.false(tables.stdout.includes('resilnet'), tables.stdout);
});

function esc(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
