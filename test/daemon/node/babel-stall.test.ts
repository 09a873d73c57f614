// A frozen babeld is not fatal (real daemons, real babeld and openvpn in namespaces).
// 1. babeld SIGSTOPped for 15 s on one node while its daemon has work for it (one of
//    its openvpn children killed, a reload that changes the hello interval): the
//    daemon stays up, and after SIGCONT every pair reaches again within 30 s and
//    babeld sends the new hello interval on every tunnel, as read from babeld's own
//    Hello TLVs on the wire at the neighbours.
// 2. babeld frozen for 15 s as soon as its socket exists at daemon start: the daemon
//    stays up and converges after SIGCONT.
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseChildrenFile } from '../../../daemon/supervisor/children-file.js';
import { waitFor } from '../../fixtures/wait.js';
import { NodeLab, editFile, nodeCli, pings, registerNode, startDaemon, startNetwork, startRegistry, testNodeConfig, tunnelUp, type LabHost, type RunningNode } from './netlab.js';

const HELLOS = join(dirname(fileURLToPath(import.meta.url)), '../babel/babel-hellos.ts');
const FREEZE_MS = 15_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
const running = async (n: RunningNode): Promise<boolean> => (await Promise.race([n.proc.exited.then(() => false), sleep(50).then(() => true)]));

function thawAtTeardown(t: { teardown(fn: () => void): void }, pid: number): void {
  t.teardown(() => {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // gone already
    }
  });
}

/** Every ordered pair pings, each waited on until `deadlineMs` (wall clock). */
async function allPairsPing(lab: NodeLab, nodes: RunningNode[], deadlineMs: number): Promise<void> {
  for (const x of nodes) {
    for (const y of nodes) {
      if (x === y) continue;
      await waitFor(() => pings(lab, x, y), { what: `${x.host.name} pings ${y.host.name}`, timeoutMs: Math.max(1_000, deadlineMs - Date.now()), intervalMs: 250 });
    }
  }
}

/** Hello TLVs babeld sent to `host` (from the babel-hellos listener's log), as received. */
function hellosSeen(logPath: string): Array<{ from: string; atMs: number; intervalCs: number; unicast: boolean }> {
  return readFileSync(logPath, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
}

test.serial('babeld frozen for 15 s while the daemon has work: the daemon stays up, all pairs reach within 30 s of SIGCONT, babeld runs the new hello', async (t) => {
  const names = ['a', 'b', 'c'];
  const { lab, nodes, configs } = await startNetwork(t, names, ['babel.hello_interval=1', 'client_count=2'], { daemonArgs: (n) => (n === 'a' ? ['--log-level', 'debug'] : []) });
  const [a, b, c] = names.map((n) => nodes.get(n)!) as [RunningNode, RunningNode, RunningNode];
  for (const [x, y] of [[a, b], [a, c], [b, c]] as const) await waitFor(() => tunnelUp(lab, x, y), { what: `${x.host.name}-${y.host.name} tunnel up`, timeoutMs: 90_000 });
  await allPairsPing(lab, [a, b, c], Date.now() + 90_000);

  // babeld's Hello TLVs as a's neighbours receive them.
  const listeners = new Map<RunningNode, string>();
  for (const n of [b, c]) {
    const l = lab.spawnIn(n.host, [process.execPath, '--import', 'tsx', HELLOS], 'hellos');
    listeners.set(n, l.logPath);
    await waitFor(() => {
      if (!readFileSync(l.logPath, 'utf8').includes('listening')) throw new Error('not listening yet');
      return true;
    }, { what: `${n.host.name}: hello listener`, timeoutMs: 30_000 });
  }

  const before = await nodeCli(lab, a, 'status');
  const babeldPid: number = before.babeld.pid;
  t.is(typeof babeldPid, 'number');
  const victim = await tunnelUp(lab, a, b);

  const frozenAtMs = Date.now();
  process.kill(babeldPid, 'SIGSTOP');
  thawAtTeardown(t, babeldPid);
  // Work for the frozen babeld: an openvpn end exits (its interface leaves babel and comes back) …
  process.kill(victim.pid, 'SIGKILL');
  // … and a reload (SIGHUP) changes the hello interval.
  editFile(configs.get('a')!, (text) => text.replace('# hello_interval = 1', 'hello_interval = 2'));
  a.proc.child.kill('SIGHUP');
  await waitFor(() => {
    if (!readFileSync(a.proc.logPath, 'utf8').includes('babeld did not answer')) throw new Error('not yet');
    return true;
  }, { what: 'a notices that babeld does not answer', timeoutMs: FREEZE_MS - 1_000, intervalMs: 250 });

  await sleep(frozenAtMs + FREEZE_MS - Date.now());
  for (const n of [a, b, c]) t.true(await running(n), `${n.host.name}'s daemon is still running after the freeze`);
  process.kill(babeldPid, 'SIGCONT');
  const thawedAtMs = Date.now();
  t.log(`babeld frozen for ${((thawedAtMs - frozenAtMs) / 1000).toFixed(1)} s`);
  t.regex(readFileSync(a.proc.logPath, 'utf8'), /"msg":"reloaded"/, 'the reload ran while babeld was frozen');

  await allPairsPing(lab, [a, b, c], thawedAtMs + 30_000);
  const reachedMs = Date.now() - thawedAtMs;
  t.log(`all pairs reach ${(reachedMs / 1000).toFixed(1)} s after SIGCONT`);
  t.true(reachedMs <= 30_000, `all pairs reach after ${reachedMs} ms`);

  // babeld itself sends hello interval 2 s (200 cs) on each of a's tunnels.
  for (const [n, logPath] of listeners) {
    await waitFor(async () => {
      const tunnel = await tunnelUp(lab, n, a);
      const fromA = hellosSeen(logPath).filter((h) => h.from.endsWith(`%${tunnel.interface}`) && !h.unicast && h.atMs > thawedAtMs);
      const last = fromA.slice(-2);
      if (last.length < 2 || !last.every((h) => h.intervalCs === 200)) throw new Error(`hellos from a on ${tunnel.interface} since SIGCONT: ${JSON.stringify(fromA.map((h) => h.intervalCs))}`);
      return true;
    }, { what: `${n.host.name} hears hello interval 2 s from a`, timeoutMs: 30_000, intervalMs: 500 });
  }
  const after = await nodeCli(lab, a, 'status');
  t.is(after.babeld.pid, babeldPid, 'a 15 s freeze is not a reason to restart babeld');
  t.like(after.babeld, { answering: true, helloIntervalSec: 2 });
  for (const n of [a, b, c]) t.true(await running(n), `${n.host.name}'s daemon runs`);
});

/** A registered node's run dir (registerNode puts it in HOST.dir/node/run). */
const runDirOf = (host: LabHost): string => join(host.dir, 'node', 'run');

test.serial('babeld frozen as soon as its socket exists at daemon start: the daemon stays up and converges after SIGCONT', async (t) => {
  const lab = await NodeLab.create(t);
  const registry = await startRegistry(lab, await lab.addHost('reg'), ['babel.hello_interval=1']);
  const hosts = { a: await lab.addHost('a'), b: await lab.addHost('b') };
  const configs = { a: await registerNode(lab, registry, hosts.a), b: await registerNode(lab, registry, hosts.b) };
  for (const cfg of Object.values(configs)) editFile(cfg, testNodeConfig);
  const b = await startDaemon(lab, hosts.b, configs.b);

  // a's daemon starts; its babeld is stopped the moment its control socket appears.
  const runDir = runDirOf(hosts.a);
  const socket = resolve(runDir, 'babeld.sock');
  const proc = lab.spawnCli(hosts.a, ['daemon', '--config', configs.a], 'daemon');
  let babeldPid: number | undefined;
  const watchUntil = Date.now() + 60_000;
  while (babeldPid === undefined && Date.now() < watchUntil) {
    if (existsSync(socket) && existsSync(join(runDir, 'children.json'))) {
      babeldPid = parseChildrenFile(readFileSync(join(runDir, 'children.json'), 'utf8')).find((c) => c.name === 'babeld')?.pid;
    }
    if (babeldPid === undefined) await sleep(2);
  }
  if (babeldPid === undefined) return t.fail(`no babeld socket at ${socket} within 60 s; see ${proc.logPath}`);
  process.kill(babeldPid, 'SIGSTOP');
  const frozenAtMs = Date.now();
  thawAtTeardown(t, babeldPid);

  await sleep(frozenAtMs + FREEZE_MS - Date.now());
  const exited = await Promise.race([proc.exited, sleep(50).then(() => 'running' as const)]);
  t.is(exited, 'running', `a's daemon exited during the freeze; see ${proc.logPath}`);
  process.kill(babeldPid, 'SIGCONT');
  const thawedAtMs = Date.now();
  const log = readFileSync(proc.logPath, 'utf8');
  t.regex(log, /babeld did not answer|babeld has not answered yet/, 'the freeze hit the daemon while it started');

  const status = await waitFor(() => lab.cliJson(hosts.a, ['status', '--config', configs.a]), { what: 'a answers status', timeoutMs: 30_000 });
  const a: RunningNode = { host: hosts.a, configPath: configs.a, proc, prefix: status.prefix, address: status.address };
  await allPairsPing(lab, [a, b], thawedAtMs + 60_000);
  t.log(`a and b reach each other ${((Date.now() - thawedAtMs) / 1000).toFixed(1)} s after SIGCONT`);
  await waitFor(async () => {
    const s = await nodeCli(lab, a, 'status');
    if (!s.babeld.answering || s.babeld.helloIntervalSec !== 1 || s.babeld.pending.length > 0) throw new Error(JSON.stringify(s.babeld));
    return true;
  }, { what: 'a confirms its babel state', timeoutMs: 30_000 });
  t.true(await running(a));
});
