import test from 'ava';
import { pino } from 'pino';
import { EventLog } from '../../../daemon/events.js';
import { PeerDb } from '../../../daemon/peers/peer-db.js';
import type { Incoming, PeerAddress } from '../../../daemon/peerproto/protocol.js';
import { PeerProtoError } from '../../../daemon/peerproto/errors.js';
import type { SupervisorEvent } from '../../../daemon/supervisor/supervisor.js';
import { DEFAULT_TUNNEL_POLICY } from '../../../daemon/tunnels/plan.js';
import { TunnelManager, type TunnelEnd } from '../../../daemon/tunnels/manager.js';
import type { PeerMessage } from '../../../wire/messages.js';
import { FakeClock } from '../../fakes/fake-clock.js';

const SELF = 'fd00:1:0:1::/64';
const B = 'fd00:1:0:2::/64';
const C = 'fd00:1:0:3::/64';

class FakeSupervisor {
  started: Array<{ name: string; argv: string[]; onLine?: (line: string, pid: number) => void }> = [];
  stopped: string[] = [];
  private listeners: Array<(ev: SupervisorEvent) => void> = [];
  start(spec: { name: string; argv: string[] }, options: { onLine?: (line: string, pid: number) => void }) {
    this.started.push({ ...spec, ...options });
  }
  async stop(name: string) {
    this.stopped.push(name);
  }
  pid(name: string) {
    return this.started.some((s) => s.name === name) && !this.stopped.includes(name) ? 4242 : undefined;
  }
  on(l: (ev: SupervisorEvent) => void) {
    this.listeners.push(l);
    return () => undefined;
  }
  emit(ev: SupervisorEvent) {
    for (const l of this.listeners) l(ev);
  }
  line(name: string, line: string) {
    this.started.filter((s) => s.name === name).at(-1)?.onLine?.(line, 4242);
  }
}

class FakePeerProto {
  requests: Array<{ to: PeerAddress; msg: PeerMessage }> = [];
  sent: Array<{ to: PeerAddress; msg: PeerMessage }> = [];
  answer: (to: PeerAddress) => PeerMessage | Error = () => ({ kind: 'tunnel-accept', port: 1195 });
  handler: ((ev: any) => any) | undefined;
  async request(to: PeerAddress, msg: PeerMessage): Promise<Incoming> {
    this.requests.push({ to, msg });
    const a = this.answer(to);
    if (a instanceof Error) throw a;
    return { from: { prefix: to.prefix!, serial: '2b', host: to.host, port: to.port }, msg: a };
  }
  async send(to: PeerAddress, msg: PeerMessage) {
    this.sent.push({ to, msg });
  }
  setHandler(_kind: 'tunnel-request', h: (ev: any) => any) {
    this.handler = h;
  }
  on() {
    return () => undefined;
  }
}

function setup() {
  const clock = new FakeClock(1_000_000);
  const log = pino({ level: 'silent' });
  const events = new EventLog({ clock });
  const supervisor = new FakeSupervisor();
  const peerproto = new FakePeerProto();
  const peers = new PeerDb(':memory:', { retryBaseMs: 1_000 });
  const babelCalls: string[] = [];
  const routes = new Map<string, number>();
  const ends: TunnelEnd[] = [];
  const manager = new TunnelManager(
    { ownPrefix: SELF, underlayPort: 1194, maxClients: 2, connectTimeoutMs: 30_000, lostTimeoutMs: 60_000, requestTimeoutMs: 2_000, requestAttempts: 1, drainTimeoutMs: 10_000 },
    {
      clock,
      log,
      events,
      supervisor,
      peerproto,
      peers,
      babel: {
        addInterface: async (i) => void babelCalls.push(`add ${i}`),
        removeInterface: async (i) => void babelCalls.push(`flush ${i}`),
        raiseCost: async (i) => void babelCalls.push(`cost ${i}`),
        routeCount: (i) => routes.get(i) ?? 0,
      },
      openvpnArgv: (end) => {
        ends.push(end);
        return ['openvpn', '--dev', end.ifName];
      },
      ifNameFor: (p) => `rn${p.split(':')[3]}`,
      isUdpPortFree: async () => true,
      planContext: () => ({ peers: peers.listPeers(), reachable: [], neighbours: [], clientCount: 1, policy: DEFAULT_TUNNEL_POLICY }),
      rand: () => 0,
    },
  );
  manager.start();
  peers.upsertPeer({ prefix: B, addresses: ['10.0.0.2:1194'], source: 'registry' }, clock.nowMs());
  return { clock, events, supervisor, peerproto, peers, babelCalls, routes, ends, manager };
}

test('open: tunnel-request to the peer, then our client end to the port it answered; up on openvpn\'s line', async (t) => {
  const s = setup();
  t.true(await s.manager.open(B));
  t.deepEqual(s.peerproto.requests.map((r) => [r.to, r.msg]), [[{ host: '10.0.0.2', port: 1194, prefix: B }, { kind: 'tunnel-request', role: 'client', proto: 'udp' }]]);
  t.deepEqual(s.ends, [{ role: 'client', peer: B, ifName: 'rn2', remote: { host: '10.0.0.2', port: 1195 } }]);
  t.deepEqual(s.babelCalls, ['add rn2']);
  t.is(s.manager.get(B)?.state, 'connecting');
  s.supervisor.line(`openvpn to ${B}`, 'Initialization Sequence Completed');
  t.is(s.manager.get(B)?.state, 'up');
  t.deepEqual(s.events.list().map((e) => e.text), [`link with ${B} established via 10.0.0.2:1195/udp`]);
  t.is(s.peers.getPeer(B)?.lastSuccessMs, s.clock.nowMs());
  t.false(await s.manager.open(B), 'no second tunnel to an adjacent peer');
});

test('failed attempts back off and the third marks the peer dead with an event line', async (t) => {
  const s = setup();
  s.peerproto.answer = () => new PeerProtoError('RN_PEERPROTO_TIMEOUT', 'no reply');
  for (let i = 0; i < 3; i++) {
    t.false(await s.manager.open(B));
    await s.clock.advance(60_000);
  }
  const p = s.peers.getPeer(B)!;
  t.true(p.dead);
  t.is(p.deadReason, '3 failed attempts (no answer to tunnel-request at 10.0.0.2:1194)');
  t.deepEqual(s.events.list().map((e) => e.text), [`peer ${B} marked dead: 3 failed attempts (no answer to tunnel-request at 10.0.0.2:1194)`]);
  t.deepEqual(s.supervisor.started, []);
});

test('a refusal is a failure, except "duplicate"', async (t) => {
  const s = setup();
  s.peerproto.answer = () => ({ kind: 'tunnel-refuse', reason: 'duplicate' });
  await s.manager.open(B);
  t.is(s.peers.getPeer(B)?.failures, 0);
  s.peerproto.answer = () => ({ kind: 'tunnel-refuse', reason: 'full' });
  await s.manager.open(B);
  t.is(s.peers.getPeer(B)?.failures, 1);
  t.is(s.peers.getPeer(B)?.lastFailure, 'tunnel refused: full');
});

test('incoming requests get the free ports above underlay.port, up to max_clients', async (t) => {
  const s = setup();
  const req = (prefix: string) => s.peerproto.handler!({ from: { prefix, serial: '2c', host: '10.0.0.9', port: 1194 }, msg: { kind: 'tunnel-request', role: 'client', proto: 'udp' }, requestId: 1 });
  t.deepEqual(await req(B), { kind: 'tunnel-accept', port: 1195 });
  t.deepEqual(await req(C), { kind: 'tunnel-accept', port: 1196 });
  t.deepEqual(await req('fd00:1:0:4::/64'), { kind: 'tunnel-refuse', reason: 'full' });
  t.deepEqual(s.ends.map((e) => [e.role, e.peer, e.localPort]), [['server', B, 1195], ['server', C, 1196]]);
  t.is(s.peers.getPeer(C)?.addresses[0], '10.0.0.9:1194', 'the requester is learned');
  t.deepEqual(await req(B), { kind: 'tunnel-accept', port: 1195 }, 'a repeated request replaces the old end');
  t.true(s.supervisor.stopped.includes(`openvpn from ${B}`));
});

test('an openvpn exit is a lost link; the restarted child coming up is established again', async (t) => {
  const s = setup();
  await s.manager.open(B);
  s.supervisor.line(`openvpn to ${B}`, 'Initialization Sequence Completed');
  s.supervisor.emit({ kind: 'child-exited', name: `openvpn to ${B}`, pid: 4242, code: null, signal: 'SIGKILL', restartInMs: 1000, failures: 1, ranForMs: 5000 });
  t.is(s.manager.get(B)?.state, 'connecting');
  s.supervisor.line(`openvpn to ${B}`, 'Initialization Sequence Completed');
  t.deepEqual(s.events.list().map((e) => e.text), [
    `link with ${B} established via 10.0.0.2:1195/udp`,
    `link with ${B} lost (openvpn killed by SIGKILL; restarting in 1.0 s)`,
    `link with ${B} established via 10.0.0.2:1195/udp`,
  ]);
});

test('drain: tells the peer, raises the babel cost, waits for the routes to move, then closes', async (t) => {
  const s = setup();
  await s.manager.open(B);
  s.supervisor.line(`openvpn to ${B}`, 'Initialization Sequence Completed');
  s.routes.set('rn2', 2);
  const done = s.manager.drain(B, 'refresh: lowest score');
  await s.clock.advance(1000);
  t.is(s.manager.get(B)?.state, 'draining');
  t.true(s.babelCalls.includes('cost rn2'));
  t.deepEqual(s.peerproto.sent.map((x) => x.msg.kind), ['drain']);
  t.false(s.supervisor.stopped.includes(`openvpn to ${B}`), 'still carrying routes');
  s.routes.set('rn2', 0);
  await s.clock.advance(500);
  await done;
  t.true(s.supervisor.stopped.includes(`openvpn to ${B}`));
  t.deepEqual(s.babelCalls.slice(-1), ['flush rn2']);
  t.is(s.events.list().at(-1)?.text, `link with ${B} closed (refresh: lowest score)`);
});

test('a tunnel that never comes up is closed and counted as a failure', async (t) => {
  const s = setup();
  await s.manager.open(B);
  await s.clock.advance(31_000);
  s.manager.checkTimeouts(s.clock.nowMs());
  await s.clock.advance(0);
  t.is(s.manager.get(B), undefined);
  t.is(s.peers.getPeer(B)?.lastFailure, 'tunnel did not come up within 30 s');
});

test('revocation closes the tunnel to the revoked serial and marks the peer dead', async (t) => {
  const s = setup();
  await s.manager.open(B);
  s.supervisor.line(`openvpn to ${B}`, 'Initialization Sequence Completed');
  t.deepEqual(await s.manager.closeRevoked(new Set(['2b'])), [B]);
  t.is(s.manager.get(B), undefined);
  t.is(s.peers.getPeer(B)?.deadReason, 'certificate 2b revoked');
  t.true(s.events.list().some((e) => e.text === `peer ${B} marked dead: certificate 2b revoked`));
});

test('planRound opens towards a known peer when below client_count', async (t) => {
  const s = setup();
  const plan = await s.manager.planRound(new AbortController().signal);
  t.deepEqual(plan.open.map((a) => a.peer), [B]);
  t.is(s.manager.get(B)?.direction, 'outgoing');
});
