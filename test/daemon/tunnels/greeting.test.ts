// Integration: the daemon's greeting to the babeld at the far end of a new tunnel
// (route-request.ts), against the real babeld 1.12.1 over a real openvpn tunnel in
// two namespaces this test creates (dataplane-lab.ts) and always removes.
//
// The cases it is for (hellos here are a minute apart, so none of them heals by itself):
// - The end whose interface babeld added first sends its one hello into a tunnel
//   the other babeld does not run yet. The later end then hears only hellos with
//   no interval (the ones babeld puts next to an IHU): no finite cost, and babeld
//   drops such a neighbour at its next check, whatever unicast hellos it counted.
// - A greeting sent before our own babeld runs the tunnel: the peer answers its
//   wildcard request with a full update nobody hears, and then ignores wildcard
//   requests for a hello interval. Only the request for the peer's own prefix,
//   always answered, gets us its route before then.
import test from 'ava';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { parsePrefix } from '../../../config/ipv6.js';
import { BabelClient } from '../../../daemon/babel/client.js';
import { interfaceLine } from '../../../daemon/babel/argv.js';
import { linkLocalFor, tunnelIfName } from '../../../daemon/identity.js';
import { Supervisor } from '../../../daemon/supervisor/supervisor.js';
import { realProcAccess } from '../../../daemon/supervisor/proc.js';
import { systemClock } from '../../../daemon/sys/clock.js';
import { realSpawner } from '../../../daemon/sys/spawner.js';
import { parseOpenvpnLine } from '../../../daemon/tunnels/openvpn-lines.js';
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

/**
 * A listener in `node`'s namespace on the Babel port and group over `ifName` (babeld sets
 * SO_REUSEADDR, so both can bind it) that resolves with the TLV types of the first packet
 * holding an Update (type 8).
 */
function listenForUpdate(l: Lab, node: LabNode, ifName: string): { listening: Promise<void>; update: Promise<number[]> } {
  const script = `
    const s = require('node:dgram').createSocket({ type: 'udp6', reuseAddr: true });
    const timer = setTimeout(() => { console.error('no update within 60 s'); process.exit(1); }, 60000);
    s.on('message', (m) => {
      const types = [];
      for (let i = 4; i < Math.min(m.length, 4 + m.readUInt16BE(2)); ) {
        types.push(m[i]);
        i += m[i] === 0 ? 1 : 2 + m[i + 1];
      }
      if (!types.includes(8)) return;
      console.log(types.join(' '));
      clearTimeout(timer);
      s.close();
    });
    s.bind(${BABEL_PORT}, '::', () => { s.addMembership('ff02::1:6', '::%${ifName}'); console.log('listening'); });`;
  const [file, ...args] = l.inNs(node, [process.execPath, '-e', script]);
  const child = spawn(file!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid) pids.add(child.pid);
  let out = '';
  let err = '';
  let onListening = (): void => {};
  const listening = new Promise<void>((resolve) => (onListening = resolve));
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.startsWith('listening\n')) onListening();
  });
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const update = new Promise<number[]>((resolve, reject) => {
    child.on('close', (code) => {
      const line = out.split('\n')[1];
      if (code === 0 && line) resolve(line.split(' ').map(Number));
      else reject(new Error(`listener on ${ifName} exited ${code}: ${err || out}`));
    });
  });
  // A listener that dies before listening fails the wait on the update.
  return { listening: Promise.race([listening, update.then(() => {})]), update };
}

async function routeTo(l: Lab, from: LabNode, prefix: string): Promise<string> {
  const r = await l.exec(from, ['ip', '-6', 'route', 'show', prefix]);
  return r.stdout.trim();
}

test.serial('greetings from both ends (hellos in both histories, requests for everything and for the peer\'s prefix) give both babelds a finite cost and the routes at once, not at the next periodic hello or full update', async (t) => {
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
  // The daemon takes a tunnel as up at openvpn's "Initialization Sequence Completed" (the tun
  // exists from openvpn's start, before the peer is connected).
  const up = new Set<string>();
  const onLine = (name: string) => ({ onLine: (line: string) => void (parseOpenvpnLine(line)?.kind === 'up' && up.add(name)) });
  sup.start({ name: 'ovpn-a', argv: l.inNs(l.a, l.openvpnArgv(l.a, l.b, { role: 'server', listenPort: port, localAddress: l.a.underlay })) }, onLine('a'));
  sup.start({ name: 'ovpn-b', argv: l.inNs(l.b, l.openvpnArgv(l.b, l.a, { role: 'client', remoteHost: l.a.underlay, remotePort: port })) }, onLine('b'));
  await waitFor(async () => {
    if (up.size < 2) throw new Error(`up: ${[...up].join(' ') || 'neither end'}`);
    return true;
  }, { what: 'both openvpn ends up', timeoutMs: 60_000 });
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
  // What each daemon sends when its end of the tunnel is up, sent from its namespace.
  const greet = async (from: LabNode, to: LabNode, ifName: string, seqno: number): Promise<void> => {
    const packet = tunnelGreeting(seqno, HELLO_SEC * 100, parsePrefix(to.prefix)).toString('hex');
    const host = `${linkLocalFor(to.prefix)}%${ifName}`;
    const script = `const s=require('node:dgram').createSocket('udp6');s.send(Buffer.from('${packet}','hex'),${BABEL_PORT},'${host}',(e)=>{s.close();if(e){console.error(e.message);process.exit(1)}})`;
    const sent = await l.exec(from, [process.execPath, '-e', script], { reject: false });
    t.is(sent.exitCode, 0, sent.stderr);
  };

  await babelA.configure(interfaceLine(ifA, HELLO_SEC));
  await waitFor(async () => {
    if ((await babelA.dump()).interfaces.get(ifA)?.up !== true) throw new Error('not up in babeld a');
    return true;
  }, { what: 'babeld a runs the tunnel', timeoutMs: 20_000 });
  // b greets a before babeld b runs the tunnel: a's answer, a full update, crosses unheard
  // (a listener of ours on b's end sees it), and babeld a ignores wildcard requests from now
  // on for a hello interval: babeld b's own when it takes the tunnel up, and the greetings'.
  const heard = listenForUpdate(l, l.b, ifB);
  await heard.listening;
  await greet(l.b, l.a, ifB, 775);
  t.log(`a's full update crossed the tunnel unheard: TLV types ${(await heard.update).join(' ')}`);
  await babelB.configure(interfaceLine(ifB, HELLO_SEC));
  // Babeld b runs the tunnel and its first hello reached babeld a. Whether b lists a yet is
  // left open: a's only hello went out before b ran the tunnel, and its next is a minute away.
  const before = await waitFor(async () => {
    const db = await babelB.dump();
    if (db.interfaces.get(ifB)?.up !== true) throw new Error('not up in babeld b');
    const na = [...(await babelA.dump()).neighbours.values()].find((n) => n.ifName === ifA);
    if (!na) throw new Error('babeld a does not list b yet');
    return { a: na, b: [...db.neighbours.values()].find((n) => n.ifName === ifB) };
  }, { what: 'babeld b runs the tunnel and babeld a lists it', timeoutMs: 20_000 });
  const costOf = (n: typeof before.a | undefined): string => (n ? `reach ${n.reach.toString(16)} cost ${n.cost}` : 'not a neighbour yet');
  t.log(`before the greetings: a ${costOf(before.a)}; b ${costOf(before.b)}`);

  await greet(l.a, l.b, ifA, 4242);
  await greet(l.b, l.a, ifB, 777);

  for (const [from, to, ifName] of [[l.a, l.b, ifA], [l.b, l.a, ifB]] as const) {
    const route = await waitFor(async () => {
      const r = await routeTo(l, from, to.prefix);
      if (!r.includes(`dev ${ifName}`)) throw new Error(`${from.key}: route to ${to.key}: "${r}"`);
      return r;
    }, { what: `${from.key} routes to ${to.key} over the tunnel`, timeoutMs: 20_000 });
    t.regex(route, new RegExp(`^${to.prefix.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} via fe80::\\S+ dev ${ifName}\\b`));
  }
  for (const [client, ifName] of [[babelA, ifA], [babelB, ifB]] as const) {
    const n = [...(await client.dump()).neighbours.values()].find((x) => x.ifName === ifName);
    t.truthy(n);
    t.is(n!.ureach & 0xc000, 0xc000, `${ifName}: the two unicast hellos are counted`);
    t.not(n!.reach, 0, `${ifName}: a hello with an interval in the multicast history: babeld keeps the neighbour at its next check`);
    t.true(n!.cost < 65535, `${ifName}: finite cost ${n!.cost}`);
  }
});
