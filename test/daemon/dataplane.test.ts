// Integration: the data-plane adapters against the real openvpn 2.6 and babeld 1.12
// in two network namespaces this test creates (dataplane-lab.ts) and always removes.
import test from 'ava';
import { join } from 'node:path';
import { BabelClient } from '../../daemon/babel/client.js';
import { reconfigureInterfaceLines } from '../../daemon/babel/argv.js';
import { routeCountsByInterface } from '../../daemon/babel/table.js';
import { CHECK_LINE } from '../../daemon/babel/reconciler.js';
import { tunnelIfName } from '../../daemon/identity.js';
import { MgmtClient } from '../../daemon/openvpn/mgmt-client.js';
import { parseStateFields } from '../../daemon/openvpn/mgmt-parse.js';
import { Supervisor, type SupervisorEvent } from '../../daemon/supervisor/supervisor.js';
import { realProcAccess } from '../../daemon/supervisor/proc.js';
import { readChildrenFile } from '../../daemon/supervisor/children-file.js';
import { systemClock } from '../../daemon/sys/clock.js';
import { parseNetDev } from '../../daemon/sys/netdev.js';
import { realSpawner } from '../../daemon/sys/spawner.js';
import { captureBabelHellos } from '../fixtures/babel-hellos.js';
import { waitFor } from '../fixtures/wait.js';
import { createLab, type Lab, type LabNode } from './dataplane-lab.js';

interface Ctx {
  lab: Lab;
  sup: Supervisor;
  events: SupervisorEvent[];
  babelA: BabelClient;
  mgmtA: MgmtClient;
  ifA: string;
  ifB: string;
  pids: Set<number>;
  runDir: string;
}

let ctx: Ctx | undefined;

/** One ping: true on a reply, throws when there is none. */
async function pings(lab: Lab, from: LabNode, to: LabNode): Promise<true> {
  const r = await lab.exec(from, ['ping', '-6', '-n', '-c1', '-W1', to.address], { reject: false });
  if (r.exitCode !== 0) throw new Error(`${from.key} cannot ping ${to.address}: ${r.stdout.split('\n').at(-2) ?? r.stderr}`);
  return true;
}

test.before(async () => {
  const lab = await createLab();
  const runDir = join(lab.dir, 'sup');
  const sup = new Supervisor({ spawner: realSpawner, clock: systemClock, runDir }, { stopGraceMs: 3000 });
  const events: SupervisorEvent[] = [];
  const pids = new Set<number>();
  sup.on((e) => {
    events.push(e);
    if (e.kind === 'child-started') pids.add(e.pid);
  });
  const ifA = tunnelIfName(lab.b.prefix);
  const ifB = tunnelIfName(lab.a.prefix);
  ctx = {
    lab,
    sup,
    events,
    pids,
    ifA,
    ifB,
    runDir,
    babelA: new BabelClient({ socketPath: lab.a.babelSocket, clock: systemClock, requestTimeoutMs: 10_000 }),
    mgmtA: new MgmtClient({ socketPath: join(lab.a.dir, `${ifA}.mgmt`), clock: systemClock, onConnectCommands: ['state on'] }),
  };
  await lab.setupNode(lab.a);
  await lab.setupNode(lab.b);
  const port = 20_000 + Math.floor(Math.random() * 10_000);
  sup.start({ name: 'babeld-a', argv: lab.inNs(lab.a, lab.babeldArgv(lab.a, 1, [ifA])) });
  sup.start({ name: 'babeld-b', argv: lab.inNs(lab.b, lab.babeldArgv(lab.b, 1, [ifB])) });
  sup.start({ name: 'ovpn-a', argv: lab.inNs(lab.a, lab.openvpnArgv(lab.a, lab.b, { role: 'server', listenPort: port, localAddress: lab.a.underlay })) });
  sup.start({ name: 'ovpn-b', argv: lab.inNs(lab.b, lab.openvpnArgv(lab.b, lab.a, { role: 'client', remoteHost: lab.a.underlay, remotePort: port })) });
  ctx.mgmtA.start();
});

test.after.always(async () => {
  if (!ctx) return;
  await ctx.mgmtA.close();
  ctx.babelA.close();
  await ctx.sup.stopAll(['babeld-a', 'babeld-b']);
  // Belt and braces: anything of ours still alive after a failed test.
  for (const pid of ctx.pids) if (realProcAccess.alive(pid)) realProcAccess.kill(pid, 'SIGKILL');
  await ctx.lab.teardown();
});

test.serial('each node pings the other through the tunnel; babel shows one route on it', async (t) => {
  const { lab, babelA, ifA, mgmtA } = ctx!;
  await waitFor(() => pings(lab, lab.a, lab.b), { timeoutMs: 30_000, what: 'a → b' });
  await waitFor(() => pings(lab, lab.b, lab.a), { timeoutMs: 30_000, what: 'b → a' });
  const route = await lab.exec(lab.a, ['ip', '-6', 'route', 'get', lab.b.address]);
  t.regex(route.stdout, new RegExp(`dev ${ifA}\\b`), 'the route to b goes through the tunnel');
  const table = await waitFor(async () => {
    const tb = await babelA.dump();
    if (routeCountsByInterface(tb).get(ifA) !== 1) throw new Error(`route counts ${JSON.stringify([...routeCountsByInterface(tb)])}`);
    return tb;
  }, { timeoutMs: 20_000, what: 'one babel route on the tunnel' });
  t.deepEqual([...routeCountsByInterface(table)], [[ifA, 1]]);
  t.true([...table.routes.values()].some((r) => r.prefix === lab.b.prefix && r.installed));
  // What the reconciler asks babeld while calm: a one-line question, and the interfaces alone.
  t.deepEqual(await babelA.request(CHECK_LINE), { status: 'ok', text: '', events: [] });
  const interfaces = await babelA.dumpInterfaces();
  t.deepEqual([...interfaces.keys()].sort(), [...table.interfaces.keys()].sort());
  t.true(interfaces.has(ifA));
  const state = await mgmtA.command('state');
  t.is(state.kind, 'lines');
  t.is(parseStateFields(state.kind === 'lines' ? state.lines[0]! : '')?.name, 'CONNECTED');
});

test.serial('a hello interval changed at runtime through BabelClient is the interval babeld puts in its hellos', async (t) => {
  const { lab, babelA, ifA } = ctx!;
  const capture = await captureBabelHellos(lab.a.ns, ifA);
  t.teardown(() => capture.stop());
  /** Waits for `count` hellos at `intervalCs` sent after the reconfiguration; returns every interval seen since. */
  const reconfigure = async (helloSec: number, count: number): Promise<number[]> => {
    const from = capture.hellos.length;
    // babeld 1.12.1 applies a changed live interface only on re-add: flush + interface.
    for (const line of reconfigureInterfaceLines(ifA, helloSec)) await babelA.configure(line);
    const intervalCs = Math.round(helloSec * 100);
    return waitFor(() => {
      const seen = capture.hellos.slice(from).map((h) => h.intervalCs);
      if (seen.filter((cs) => cs === intervalCs).length < count) throw new Error(`intervals sent since: ${seen.join(' ') || 'none'}`);
      return seen;
    }, { what: `${count} hellos at ${intervalCs} cs on ${ifA}`, timeoutMs: 60_000 });
  };
  const slow = await reconfigure(8, 1);
  const fast = await reconfigure(0.25, 4);
  t.log(`hello intervals on ${ifA} (cs): after hello 8 s: ${slow.join(' ')}; after hello 0.25 s: ${fast.join(' ')}`);
  // Once babeld sends the new interval it does not go back to the old one.
  t.is(fast.at(-1), 25);
  await reconfigure(1, 1);
  const refused = await babelA.request('bogus command');
  t.is(refused.status, 'bad');
});

test.serial('killing the openvpn child: the supervisor restarts it and the ping comes back', async (t) => {
  const { lab, sup, events, mgmtA } = ctx!;
  const oldPid = sup.pid('ovpn-a');
  t.truthy(oldPid);
  const reconnected = new Promise<void>((resolve) => {
    let sawDisconnect = false;
    mgmtA.on((e) => {
      if (e.kind === 'disconnected') sawDisconnect = true;
      if (e.kind === 'connected' && sawDisconnect) resolve();
    });
  });
  realProcAccess.kill(oldPid!, 'SIGKILL');
  await waitFor(() => {
    const started = events.find((e) => e.kind === 'child-started' && e.name === 'ovpn-a' && e.pid !== oldPid);
    if (!started) throw new Error('no new ovpn-a yet');
    return true;
  }, { timeoutMs: 10_000, what: 'ovpn-a restarted' });
  t.like(events.find((e) => e.kind === 'child-exited' && e.name === 'ovpn-a'), { signal: 'SIGKILL', restartInMs: 0 });
  t.false(realProcAccess.alive(oldPid!));
  await waitFor(() => pings(lab, lab.a, lab.b), { timeoutMs: 45_000, what: 'a → b after the restart' });
  await waitFor(() => pings(lab, lab.b, lab.a), { timeoutMs: 15_000, what: 'b → a after the restart' });
  await reconnected;
  const state = await mgmtA.command('state');
  t.is(state.kind, 'lines');
});

test.serial('link beats sent into the tunnel are counted on the peer\'s interface, and nothing comes back', async (t) => {
  const { lab, ifA, ifB } = ctx!;
  await waitFor(() => pings(lab, lab.a, lab.b), { what: 'a pings b', timeoutMs: 60_000 });
  const rx = async (node: LabNode, ifName: string): Promise<number> => {
    const c = parseNetDev((await lab.exec(node, ['cat', '/proc/net/dev'])).stdout).get(ifName);
    if (!c) throw new Error(`${ifName} not in ${node.key}'s /proc/net/dev`);
    return c.rxPackets;
  };
  const [aBefore, bBefore] = [await rx(lab.a, ifA), await rx(lab.b, ifB)];
  // 40 beats, 10 ms apart, from a process in a's namespace (the daemon's own sender).
  const script = [
    `import { LinkBeats } from ${JSON.stringify(join(process.cwd(), 'daemon/tunnels/link-beats.ts'))};`,
    `const beats = new LinkBeats((i, e) => { console.error(i, e.message); process.exitCode = 1; });`,
    `let sent = 0;`,
    `while (sent < 40) { if (beats.send(${JSON.stringify(ifA)})) sent++; await new Promise((r) => setTimeout(r, 10)); }`,
    `await new Promise((r) => setTimeout(r, 200));`,
    `beats.close();`,
  ].join('\n');
  await lab.exec(lab.a, [process.execPath, '--import', 'tsx', '--input-type=module', '-e', script]);
  const bGot = (await waitFor(async () => {
    const n = (await rx(lab.b, ifB)) - bBefore;
    if (n < 40) throw new Error(`b counted ${n} packets`);
    return n;
  }, { what: 'b counts the 40 beats', timeoutMs: 10_000, intervalMs: 100 }));
  const aGot = (await rx(lab.a, ifA)) - aBefore;
  t.log(`b counted ${bGot} packets on ${ifB} (40 beats and babel's), a ${aGot} on ${ifA}`);
  // Babel's own packets (hello 1 s) come back in that second; an answer per beat would be 40 more.
  t.true(aGot < 20, `a received ${aGot} packets: beats were answered`);
});

test.serial('after stopAll and teardown nothing is left', async (t) => {
  const { lab, sup, pids, ifA, ifB, runDir } = ctx!;
  await sup.stopAll(['babeld-a', 'babeld-b']);
  t.deepEqual(sup.list(), []);
  t.deepEqual(readChildrenFile(runDir), []);
  for (const pid of pids) t.false(realProcAccess.alive(pid), `pid ${pid} still alive`);
  await lab.teardownNode(lab.a);
  await lab.teardownNode(lab.b);
  for (const [node, ifName] of [[lab.a, ifA], [lab.b, ifB]] as const) {
    const link = await lab.exec(node, ['ip', 'link', 'show', 'dev', ifName], { reject: false });
    t.not(link.exitCode, 0, `${ifName} still exists in ${node.ns}`);
    t.regex(link.stderr, /does not exist/, `ip link show ${ifName}: ${link.stderr}`);
    const addr = await lab.exec(node, ['ip', '-6', 'addr', 'show', 'dev', 'lo']);
    t.false(addr.stdout.includes(node.address), `${node.address} still on lo`);
    const routes = await lab.exec(node, ['ip', '-6', 'route', 'show', 'table', 'all']);
    t.false(routes.stdout.includes('unreachable ' + lab.networkPrefix), 'unreachable route still there');
    t.false(/proto babel/.test(routes.stdout), 'babel routes still there');
  }
});
