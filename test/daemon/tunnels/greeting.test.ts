// Integration: the daemon's greeting to the babeld at the far end of a new tunnel
// (route-request.ts), against the real babeld 1.12.1 over a real openvpn tunnel in
// two namespaces this test creates (dataplane-lab.ts) and always removes.
//
// The case it is for: the end whose interface babeld added first sends its one
// hello into a tunnel the other babeld does not run yet. The other end's hello
// then starts babeld's exchange of answers, which leaves the later end with one
// hello heard from the earlier one: no finite cost, no route, until the earlier
// end's next periodic hello (here a minute away).
import test from 'ava';
import { join } from 'node:path';
import { BabelClient } from '../../../daemon/babel/client.js';
import { interfaceLine } from '../../../daemon/babel/argv.js';
import { linkLocalFor, tunnelIfName } from '../../../daemon/identity.js';
import { Supervisor } from '../../../daemon/supervisor/supervisor.js';
import { realProcAccess } from '../../../daemon/supervisor/proc.js';
import { systemClock } from '../../../daemon/sys/clock.js';
import { realSpawner } from '../../../daemon/sys/spawner.js';
import { BABEL_PORT, tunnelGreeting } from '../../../daemon/tunnels/route-request.js';
import { waitFor } from '../../fixtures/wait.js';
import { createLab, type Lab, type LabNode } from '../dataplane-lab.js';

const HELLO_SEC = 60;

let lab: Lab | undefined;
let sup: Supervisor | undefined;
const pids = new Set<number>();

test.after.always(async () => {
  await sup?.stopAll(['babeld-a', 'babeld-b']);
  for (const pid of pids) if (realProcAccess.alive(pid)) realProcAccess.kill(pid, 'SIGKILL');
  await lab?.teardown();
});

async function routeTo(l: Lab, from: LabNode, prefix: string): Promise<string> {
  const r = await l.exec(from, ['ip', '-6', 'route', 'show', prefix]);
  return r.stdout.trim();
}

test.serial('greetings from both ends (two unicast hellos and a route request each) give both babelds a finite cost and the routes at once, not at the next periodic hello', async (t) => {
  lab = await createLab();
  const l = lab;
  sup = new Supervisor({ spawner: realSpawner, clock: systemClock, runDir: join(l.dir, 'sup') }, { stopGraceMs: 3000 });
  sup.on((e) => {
    if (e.kind === 'child-started') pids.add(e.pid);
  });
  await l.setupNode(l.a);
  await l.setupNode(l.b);
  const ifA = tunnelIfName(l.b.prefix);
  const ifB = tunnelIfName(l.a.prefix);
  const port = 20_000 + Math.floor(Math.random() * 10_000);
  // Both babelds run no tunnel yet: the daemon adds tunnels at runtime (one hello when babeld sees one come up).
  sup.start({ name: 'babeld-a', argv: l.inNs(l.a, l.babeldArgv(l.a, HELLO_SEC, [])) });
  sup.start({ name: 'babeld-b', argv: l.inNs(l.b, l.babeldArgv(l.b, HELLO_SEC, [])) });
  sup.start({ name: 'ovpn-a', argv: l.inNs(l.a, l.openvpnArgv(l.a, l.b, { role: 'server', listenPort: port, localAddress: l.a.underlay })) });
  sup.start({ name: 'ovpn-b', argv: l.inNs(l.b, l.openvpnArgv(l.b, l.a, { role: 'client', remoteHost: l.a.underlay, remotePort: port })) });
  for (const [node, ifName] of [[l.a, ifA], [l.b, ifB]] as const) {
    await waitFor(async () => {
      const r = await l.exec(node, ['ip', '-6', 'addr', 'show', 'dev', ifName], { reject: false });
      if (!r.stdout.includes(linkLocalFor(node.prefix))) throw new Error(`${ifName}: ${r.stdout || r.stderr}`);
      return true;
    }, { what: `tunnel ${ifName} up with its link-local address`, timeoutMs: 60_000 });
  }
  const babelA = new BabelClient({ socketPath: l.a.babelSocket, clock: systemClock, requestTimeoutMs: 10_000 });
  const babelB = new BabelClient({ socketPath: l.b.babelSocket, clock: systemClock, requestTimeoutMs: 10_000 });
  t.teardown(() => {
    babelA.close();
    babelB.close();
  });
  await babelA.configure(interfaceLine(ifA, HELLO_SEC));
  await waitFor(async () => {
    if ((await babelA.dump()).interfaces.get(ifA)?.up !== true) throw new Error('not up in babeld a');
    return true;
  }, { what: 'babeld a runs the tunnel', timeoutMs: 20_000 });
  await babelB.configure(interfaceLine(ifB, HELLO_SEC));
  // Each babeld has heard the other at least once over the tunnel.
  const costs = await waitFor(async () => {
    const na = [...(await babelA.dump()).neighbours.values()].find((n) => n.ifName === ifA);
    const nb = [...(await babelB.dump()).neighbours.values()].find((n) => n.ifName === ifB);
    if (!na || !nb) throw new Error('not neighbours yet');
    return { a: na, b: nb };
  }, { what: 'each babeld lists the other', timeoutMs: 20_000 });
  t.log(`before the greetings: a reach ${costs.a.reach.toString(16)} cost ${costs.a.cost}; b reach ${costs.b.reach.toString(16)} cost ${costs.b.cost}`);

  // What each daemon sends when its end of the tunnel is up, sent from its namespace.
  const greet = async (from: LabNode, to: LabNode, ifName: string, seqno: number): Promise<void> => {
    const packet = tunnelGreeting(seqno, HELLO_SEC * 100).toString('hex');
    const host = `${linkLocalFor(to.prefix)}%${ifName}`;
    const script = `const s=require('node:dgram').createSocket('udp6');s.send(Buffer.from('${packet}','hex'),${BABEL_PORT},'${host}',(e)=>{s.close();if(e){console.error(e.message);process.exit(1)}})`;
    const sent = await l.exec(from, [process.execPath, '-e', script], { reject: false });
    t.is(sent.exitCode, 0, sent.stderr);
  };
  await greet(l.a, l.b, ifA, 4242);
  await greet(l.b, l.a, ifB, 777);

  for (const [from, to, ifName] of [[l.a, l.b, ifA], [l.b, l.a, ifB]] as const) {
    const route = await waitFor(async () => {
      const r = await routeTo(l, from, to.prefix);
      if (!r.includes(`dev ${ifName}`)) throw new Error(`${from.key}: route to ${to.key}: "${r}"`);
      return r;
    }, { what: `${from.key} routes to ${to.key} over the tunnel`, timeoutMs: 10_000 });
    t.regex(route, new RegExp(`^${to.prefix.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} via fe80::\\S+ dev ${ifName}\\b`));
  }
  for (const [client, ifName] of [[babelA, ifA], [babelB, ifB]] as const) {
    const n = [...(await client.dump()).neighbours.values()].find((x) => x.ifName === ifName);
    t.truthy(n);
    t.is(n!.ureach & 0xc000, 0xc000, `${ifName}: the two unicast hellos are counted`);
    t.true(n!.cost < 65535, `${ifName}: finite cost ${n!.cost}`);
  }
});
