import test from 'ava';
import { PeerProtoError } from '../../../daemon/peerproto/errors.js';
import { managerFixture, peerPrefix } from './manager-fixture.js';

const B = peerPrefix(2);
const C = peerPrefix(3);

const setup = () => managerFixture({ retryBaseMs: 1_000 });

test('open: tunnel-request to the peer, then our client end to the port it answered; up on openvpn\'s line', async (t) => {
  const s = setup();
  t.true(await s.manager.open(B));
  t.deepEqual(s.peerproto.requests.map((r) => [r.to, r.msg]), [[{ host: '10.0.0.2', port: 1194, prefix: B }, { kind: 'tunnel-request', role: 'client', proto: 'udp' }]]);
  t.deepEqual(s.ends, [{ role: 'client', peer: B, ifName: 'rn2', remote: { host: '10.0.0.2', port: 1195 } }]);
  t.deepEqual(s.babelCalls, ['add rn2']);
  t.is(s.manager.get(B)?.state, 'connecting');
  s.line(`openvpn to ${B}`, 'Initialization Sequence Completed');
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
  t.deepEqual(s.started, []);
});

test('"duplicate" is no failure; "full" leaves the peer alone for a while without counting a failure; other refusals are failures', async (t) => {
  const s = setup();
  s.peerproto.answer = () => ({ kind: 'tunnel-refuse', reason: 'duplicate' });
  await s.manager.open(B);
  t.is(s.peers.getPeer(B)?.failures, 0);
  s.peerproto.answer = () => ({ kind: 'tunnel-refuse', reason: 'full' });
  for (let i = 0; i < 4; i++) t.false(await s.manager.open(B));
  const busy = s.peers.getPeer(B)!;
  t.like(busy, { failures: 0, dead: false, lastFailure: 'tunnel refused: full' });
  t.true(busy.retryAtMs >= s.clock.nowMs() + 30_000 && busy.retryAtMs <= s.clock.nowMs() + 90_000, `retry at +${busy.retryAtMs - s.clock.nowMs()} ms`);
  s.peerproto.answer = () => ({ kind: 'tunnel-refuse', reason: 'not-allowed' });
  await s.manager.open(B);
  t.like(s.peers.getPeer(B), { failures: 1, lastFailure: 'tunnel refused: not-allowed' });
});

test('incoming requests get the free ports above underlay.port, up to max_clients', async (t) => {
  const s = setup();
  const req = (prefix: string) => s.tunnelRequest(prefix, { serial: '2c', host: '10.0.0.9', port: 1194 });
  t.deepEqual(await req(B), { kind: 'tunnel-accept', port: 1195 });
  t.deepEqual(await req(C), { kind: 'tunnel-accept', port: 1196 });
  t.deepEqual(await req('fd00:1:0:4::/64'), { kind: 'tunnel-refuse', reason: 'full' });
  t.deepEqual(s.ends.map((e) => [e.role, e.peer, e.localPort]), [['server', B, 1195], ['server', C, 1196]]);
  t.is(s.peers.getPeer(C)?.addresses[0], '10.0.0.9:1194', 'the requester is learned');
  t.deepEqual(await req(B), { kind: 'tunnel-accept', port: 1195 }, 'a repeated request replaces the old end');
  t.true(s.stopped.includes(`openvpn from ${B}`));
});

test('an openvpn exit is a lost link; the restarted child coming up is established again', async (t) => {
  const s = setup();
  await s.manager.open(B);
  s.line(`openvpn to ${B}`, 'Initialization Sequence Completed');
  s.emit({ kind: 'child-exited', name: `openvpn to ${B}`, pid: 4242, code: null, signal: 'SIGKILL', restartInMs: 1000, failures: 1, ranForMs: 5000 });
  t.is(s.manager.get(B)?.state, 'connecting');
  s.line(`openvpn to ${B}`, 'Initialization Sequence Completed');
  t.deepEqual(s.events.list().map((e) => e.text), [
    `link with ${B} established via 10.0.0.2:1195/udp`,
    `link with ${B} lost (openvpn killed by SIGKILL; restarting in 1.0 s)`,
    `link with ${B} established via 10.0.0.2:1195/udp`,
  ]);
});

test('drain: tells the peer, raises the babel cost, waits for the routes to move, then closes', async (t) => {
  const s = setup();
  await s.manager.open(B);
  s.line(`openvpn to ${B}`, 'Initialization Sequence Completed');
  s.routes.set('rn2', 2);
  const done = s.manager.drain(B, 'refresh: lowest score');
  await s.clock.advance(1000);
  t.is(s.manager.get(B)?.state, 'draining');
  t.true(s.babelCalls.includes('cost rn2'));
  t.deepEqual(s.peerproto.sent.map((x) => x.msg.kind), ['drain']);
  t.false(s.stopped.includes(`openvpn to ${B}`), 'still carrying routes');
  s.routes.set('rn2', 0);
  await s.clock.advance(500);
  await done;
  t.true(s.stopped.includes(`openvpn to ${B}`));
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

test('a handshake still moving on a slow host is waited for, up to 3 × the time-out; a stalled one is closed', async (t) => {
  const s = setup();
  await s.manager.open(B);
  await s.clock.advance(25_000);
  s.line(`openvpn to ${B}`, 'TLS: Initial packet from [AF_INET]10.142.0.2:1194, sid=5d1c2b3a 9e8f7a6b');
  await s.clock.advance(10_000);
  s.manager.checkTimeouts(s.clock.nowMs());
  t.truthy(s.manager.get(B), 'a step 10 s ago: still waiting at 35 s');
  s.line(`openvpn to ${B}`, 'VERIFY OK: depth=1, CN=resilnet CA');
  await s.clock.advance(14_000);
  s.manager.checkTimeouts(s.clock.nowMs());
  t.truthy(s.manager.get(B), 'a step 14 s ago: still waiting at 49 s');
  await s.clock.advance(2_000);
  s.manager.checkTimeouts(s.clock.nowMs());
  await s.clock.advance(0);
  t.is(s.manager.get(B), undefined, 'no step for 16 s: closed');
  t.is(s.peers.getPeer(B)?.lastFailure, 'tunnel did not come up within 30 s');
});

test('a handshake that keeps moving is still closed after 3 × the time-out', async (t) => {
  const s = setup();
  await s.manager.open(B);
  for (let i = 0; i < 9; i++) {
    await s.clock.advance(10_000);
    s.line(`openvpn to ${B}`, 'Control Channel: TLSv1.3, cipher TLSv1.3 TLS_AES_256_GCM_SHA384');
    s.manager.checkTimeouts(s.clock.nowMs());
  }
  await s.clock.advance(0);
  t.is(s.manager.get(B), undefined);
});

test('revocation closes the tunnel to the revoked serial and marks the peer dead', async (t) => {
  const s = setup();
  await s.manager.open(B);
  s.line(`openvpn to ${B}`, 'Initialization Sequence Completed');
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

/** The overlay reaches B and C (through some public node): a punch request can travel to them. */
const punchable = () => managerFixture({ retryBaseMs: 1_000, planContext: () => ({ reachable: [B, C] }) });

/** A puncher for a node behind an EIM NAT that knows no peer's class: records the punches it is asked for. */
function fakePuncher(behindNat: boolean) {
  const punched: string[] = [];
  const self = {
    punched,
    /** What pairing() answers (a punch message may change it while a request waits). */
    now: 'unknown' as 'unknown' | 'punch' | 'impossible' | 'direct',
    pairing: () => self.now,
    behindNat: () => behindNat,
    selfClass: () => (behindNat ? 'eim' as const : 'public' as const),
    peerClass: () => undefined,
    punch: async (peer: string) => {
      punched.push(peer);
      return { ok: false as const, reason: 'hole punch timed out (20 s)' };
    },
  };
  return self;
}

test('behind a NAT, a direct tunnel the peer accepted but our client end never reached makes the next attempt punch, once', async (t) => {
  const s = punchable();
  const puncher = fakePuncher(true);
  s.manager.setPuncher(puncher);
  const timeOut = async () => {
    await s.clock.advance(31_000);
    s.manager.checkTimeouts(s.clock.nowMs());
    await s.clock.advance(0);
  };
  // The request crossed both NATs, openvpn's packets did not.
  t.true(await s.manager.open(B));
  await timeOut();
  t.false(await s.manager.open(B));
  t.deepEqual(puncher.punched, [B], 'punched instead of asking again');
  t.is(s.peerproto.requests.length, 1);
  await s.clock.advance(120_000);
  t.true(await s.manager.open(B), 'the punch failed: an ordinary request again');
  t.is(s.peerproto.requests.length, 2);
  // Our server end of C's request never up: the fault is our own NAT, and asking C ourselves is the cure.
  t.deepEqual(await s.tunnelRequest(C, { serial: '2c', host: '10.0.0.9', port: 1194 }), { kind: 'tunnel-accept', port: 1195 });
  await timeOut();
  t.true(await s.manager.open(C));
  t.deepEqual(puncher.punched, [B]);
});

test('not behind a NAT, a direct tunnel that never came up is asked for again: there is nothing to punch', async (t) => {
  const s = setup();
  const puncher = fakePuncher(false);
  s.manager.setPuncher(puncher);
  await s.manager.open(B);
  await s.clock.advance(31_000);
  s.manager.checkTimeouts(s.clock.nowMs());
  await s.clock.advance(0);
  await s.clock.advance(60_000);
  t.true(await s.manager.open(B));
  t.deepEqual(puncher.punched, [], 'a public node has nothing to punch');
  t.is(s.peerproto.requests.length, 2);
});

test('a request left unanswered punches by the pairing known at its end: not when a punch message said meanwhile that no tunnel can work', async (t) => {
  const s = punchable();
  const puncher = fakePuncher(true);
  s.manager.setPuncher(puncher);
  s.peerproto.answer = () => {
    puncher.now = 'impossible'; // the peer's punch request, refused, told its class while ours waited
    return new PeerProtoError('RN_PEERPROTO_TIMEOUT', 'no reply');
  };
  t.false(await s.manager.open(B));
  t.deepEqual(puncher.punched, []);
  t.is(s.peers.getPeer(B)?.failures, 0, 'not a failure of the peer');
  s.peerproto.answer = () => {
    puncher.now = 'unknown';
    return new PeerProtoError('RN_PEERPROTO_TIMEOUT', 'no reply');
  };
  t.false(await s.manager.open(B));
  t.deepEqual(puncher.punched, [B], 'still unknown: punching learns the class');
});

test("the peer's silence at one address outweighs this host's failure to send to another: the attempt is not blamed on this host", async (t) => {
  const s = setup();
  s.peers.upsertPeer({ prefix: B, addresses: ['10.0.0.2:1194', '192.168.9.9:1194'], source: 'peer' }, s.clock.nowMs());
  const unreachable = new PeerProtoError('RN_PEERPROTO_SEND', 'cannot send a peer message to 192.168.9.9:1194', { cause: Object.assign(new Error('send ENETUNREACH'), { code: 'ENETUNREACH' }) });
  s.peerproto.answer = (to) => (to.host === '10.0.0.2' ? new PeerProtoError('RN_PEERPROTO_TIMEOUT', 'no reply') : unreachable);
  t.false(await s.manager.open(B));
  t.is(s.peers.getPeer(B)?.lastFailure, 'no answer to tunnel-request at 10.0.0.2:1194');
  // Only local failures: that is what is reported.
  s.peerproto.answer = () => unreachable;
  await s.clock.advance(120_000);
  t.false(await s.manager.open(B));
  t.is(s.peers.getPeer(B)?.lastFailure, 'RN_PEERPROTO_SEND');
});

test('learning we are behind a NAT closes a direct attempt that heard nothing back and punches at once, not after the 30 s time-out', async (t) => {
  let replans = 0;
  // The overlay reaches B and C already (through a public node): a punch request can travel.
  const s = managerFixture({ retryBaseMs: 1_000, deps: { replanSoon: () => void replans++ }, planContext: () => ({ reachable: [B, C] }) });
  s.peers.upsertPeer({ prefix: C, addresses: ['10.0.0.3:1194'], source: 'registry' }, s.clock.nowMs());
  const puncher = fakePuncher(true);
  s.manager.setPuncher(puncher);
  // Both asked for before our first NAT check: B never answers through the NATs, C's handshake moves.
  t.true(await s.manager.open(B));
  t.true(await s.manager.open(C));
  s.line(`openvpn to ${C}`, 'TLS: Initial packet from [AF_INET]10.0.0.3:1195, sid=1 2');
  await s.clock.advance(5_000);
  t.deepEqual(await s.manager.selfNatClassChanged('eim'), [B]);
  await s.clock.advance(0);
  t.is(s.manager.get(B), undefined, 'closed');
  t.truthy(s.manager.get(C), 'kept: something came back');
  t.deepEqual(s.stopped, [`openvpn to ${B}`]);
  t.is(replans, 1);
  t.is(s.peers.getPeer(B)?.failures, 0, 'not the peer\'s failure');
  t.false(await s.manager.open(B));
  t.deepEqual(puncher.punched, [B], 'the next attempt punches');
  t.is(s.peerproto.requests.length, 2, 'no second request to B');
});

test('learning we are public closes nothing; behind a NAT, an attempt to a peer the overlay does not reach yet is left to its time-out', async (t) => {
  const s = setup();
  s.manager.setPuncher(fakePuncher(false));
  t.true(await s.manager.open(B));
  t.deepEqual(await s.manager.selfNatClassChanged('public'), []);
  t.deepEqual(await s.manager.selfNatClassChanged('eim'), [], 'no route to B: a punch request could not reach it');
  t.truthy(s.manager.get(B));
});

test('learning we are behind a NAT closes a server end nobody reached, so our own request replaces it', async (t) => {
  let replans = 0;
  const s = managerFixture({ retryBaseMs: 1_000, deps: { replanSoon: () => void replans++ } });
  s.manager.setPuncher(fakePuncher(true));
  // Accepted before our first NAT check; the peer's client never gets through our NAT.
  t.deepEqual(await s.tunnelRequest(C, { serial: '2c', host: '10.0.0.9', port: 1194 }), { kind: 'tunnel-accept', port: 1195 });
  await s.clock.advance(5_000);
  t.deepEqual(await s.manager.selfNatClassChanged('eim'), [C]);
  t.is(s.manager.get(C), undefined);
  t.deepEqual(s.stopped, [`openvpn from ${C}`]);
  t.is(replans, 1);
});

test('hole punching waits while the overlay does not reach the peer: no punch request, no failure', async (t) => {
  const s = setup();
  const puncher = fakePuncher(true);
  puncher.now = 'punch';
  s.manager.setPuncher(puncher);
  t.false(await s.manager.open(B));
  t.deepEqual(puncher.punched, []);
  t.is(s.peers.getPeer(B)?.failures, 0);
});

test('while a punch request of the peer is served, we do not punch it ourselves', async (t) => {
  const s = punchable();
  const puncher = fakePuncher(true);
  puncher.now = 'punch';
  s.manager.setPuncher(puncher);
  let release = (): void => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const serving = s.manager.servePunched({ prefix: B, serial: '2b', host: 'fd00:1:0:2::1', port: 1194 }, async () => {
    await gate;
    return { local: '198.51.100.1:40001', remote: '198.51.100.7:40002' };
  });
  await s.clock.advance(0);
  t.true(s.manager.isAdjacent(B));
  t.false(await s.manager.open(B));
  t.deepEqual(puncher.punched, [], 'no crossing punch');
  release();
  t.like(await serving, { kind: 'punch-accept' });
  t.is(s.manager.get(B)?.direction, 'incoming');
});

test('a new end for a peer starts only once its closing one is stopped (one child name at a time)', async (t) => {
  let releaseStop = (): void => undefined;
  const stopGate = new Promise<void>((resolve) => (releaseStop = resolve));
  const running = new Set<string>();
  const steps: string[] = [];
  const supervisor = {
    start: (spec: { name: string }) => {
      if (running.has(spec.name)) throw new Error(`a child named ${spec.name} is already supervised`);
      running.add(spec.name);
      steps.push(`start ${spec.name}`);
    },
    stop: async (name: string) => {
      await stopGate;
      running.delete(name);
      steps.push(`stopped ${name}`);
    },
    pid: () => 4242,
    on: () => () => undefined,
  };
  const s = managerFixture({ retryBaseMs: 1_000, deps: { supervisor } });
  s.manager.setPuncher(fakePuncher(true));
  t.deepEqual(await s.tunnelRequest(C), { kind: 'tunnel-accept', port: 1195 });
  await s.clock.advance(5_000);
  // Our class is learned: the unreached server end starts closing; its openvpn takes a while to stop.
  const change = s.manager.selfNatClassChanged('eim');
  await s.clock.advance(0);
  const again = s.tunnelRequest(C);
  await s.clock.advance(0);
  releaseStop();
  t.deepEqual(await change, [C]);
  t.like(await again, { kind: 'tunnel-accept' });
  t.deepEqual(steps, [`start openvpn from ${C}`, `stopped openvpn from ${C}`, `start openvpn from ${C}`]);
});
