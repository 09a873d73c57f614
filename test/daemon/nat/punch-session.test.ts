// The hole-punching exchange on fakes (no sockets): what each side sends, in
// which order, what it learns of the peer's NAT class, and the 20 s deadline on
// a fake clock.
import test from 'ava';
import { PeerNatClasses } from '../../../daemon/nat/peer-classes.js';
import { Puncher, type PunchDeps, type PunchServer } from '../../../daemon/nat/punch-session.js';
import type { NatClass } from '../../../daemon/nat/classify.js';
import type { Incoming } from '../../../daemon/peerproto/protocol.js';
import type { PeerMessage } from '../../../wire/messages.js';
import { FakeClock } from '../../fakes/fake-clock.js';

const PEER = 'fd5e:1:0:3::/64';
const from = { prefix: PEER, serial: '0a', host: 'fd5e:1:0:3::1', port: 1194 };

function setup(self: NatClass | null, answer?: (msg: PeerMessage, signal?: AbortSignal) => Promise<Incoming>, classes?: PeerNatClasses) {
  const clock = new FakeClock();
  const steps: string[] = [];
  const deps: PunchDeps = {
    clock,
    log: { info: () => undefined, debug: () => undefined },
    selfClass: () => self,
    overlayAddress: (peer) => ({ host: 'fd5e:1:0:3::1', port: 1194, prefix: peer }),
    request: async (to, msg, options) => {
      steps.push(`request ${msg.kind} to [${to.host}]:${to.port} attempts ${options.attempts}`);
      if (!answer) throw new Error('no answer configured');
      return answer(msg, options.signal);
    },
    mappedEndpoint: async (port) => {
      steps.push(`stun from ${port}`);
      return `198.51.100.${port % 256}:${port}`;
    },
    sendFrom: async (port, to, count) => {
      steps.push(`send ${count} from ${port} to ${to}`);
    },
    ...(classes ? { classes } : {}),
  };
  return { clock, steps, puncher: new Puncher(deps) };
}

const reply = (msg: PeerMessage): Incoming => ({ from, msg });

test('client: STUN from the tunnel port, then a punch request over the overlay; an accept gives the peer endpoint and class', async (t) => {
  let sent: PeerMessage | undefined;
  const { steps, puncher } = setup('eim', async (msg) => {
    sent = msg;
    return reply({ kind: 'punch-accept', endpoint: '203.0.113.9:1196', natClass: 'eim' });
  });
  t.is(puncher.pairing(PEER), 'unknown');
  const r = await puncher.punch(PEER, 1195, new AbortController().signal);
  t.deepEqual(steps, ['stun from 1195', 'request punch-request to [fd5e:1:0:3::1]:1194 attempts 3']);
  t.deepEqual(sent, { kind: 'punch-request', endpoint: '198.51.100.171:1195', natClass: 'eim' });
  t.deepEqual(r, { ok: true, local: '198.51.100.171:1195', remote: { host: '203.0.113.9', port: 1196 }, remoteText: '203.0.113.9:1196', serial: '0a' });
  t.is(puncher.pairing(PEER), 'punch');
});

test('client: a refusal that names an apdm peer makes the pair impossible; duplicate is no failure', async (t) => {
  const { puncher } = setup('eim', async () => reply({ kind: 'tunnel-refuse', reason: 'unsupported', natClass: 'apdm' }));
  const r = await puncher.punch(PEER, 1195, new AbortController().signal);
  t.deepEqual(r, { ok: false, reason: 'hole punch refused: unsupported (the peer is apdm)', peerClass: 'apdm' });
  t.is(puncher.pairing(PEER), 'impossible');
  const dup = setup('eim', async () => reply({ kind: 'tunnel-refuse', reason: 'duplicate' }));
  t.true((await dup.puncher.punch(PEER, 1195, new AbortController().signal) as { duplicate?: boolean }).duplicate);
});

test('client: no answer within 20 s is "hole punch timed out (20 s)"', async (t) => {
  const { clock, puncher } = setup('eim', (_msg, signal) => new Promise((_resolve, reject) => signal?.addEventListener('abort', () => reject(new Error('aborted')), { once: true })));
  const pending = puncher.punch(PEER, 1195, new AbortController().signal);
  let settled = false;
  void pending.then(() => (settled = true));
  await clock.advance(19_999);
  t.false(settled);
  await clock.advance(1);
  t.deepEqual(await pending, { ok: false, reason: 'hole punch timed out (20 s)' });
  t.is(clock.pendingTimers(), 0, 'the deadline timer is gone');
});

test('client: a public node or one of unknown class sends nothing; an apdm node asks only to learn the class', async (t) => {
  for (const self of ['public', null] as const) {
    const { steps, puncher } = setup(self);
    const r = await puncher.punch(PEER, 1195, new AbortController().signal);
    t.false(r.ok);
    t.deepEqual(steps, []);
  }
  let sent: PeerMessage | undefined;
  const apdm = setup('apdm', async (msg) => {
    sent = msg;
    return reply({ kind: 'tunnel-refuse', reason: 'unsupported', natClass: 'apdm' });
  });
  await apdm.puncher.punch(PEER, 1195, new AbortController().signal);
  t.is((sent as { natClass?: string }).natClass, 'apdm');
  t.is(apdm.puncher.pairing(PEER), 'impossible');
});

test('server: refuses cheaply (no socket, no STUN) unless both are EIM; otherwise STUN, then the burst, on the chosen port', async (t) => {
  const calls: number[] = [];
  const server: PunchServer = {
    servePunched: async (_from, prepare) => {
      calls.push(1);
      const r = await prepare(1197);
      return { kind: 'punch-accept', endpoint: r.local, natClass: 'eim' };
    },
  };
  const req = { from, msg: { kind: 'punch-request' as const, endpoint: '198.51.100.7:1195', natClass: 'eim' as const } };

  const apdm = setup('apdm');
  t.deepEqual(await apdm.puncher.answer(req, server), { kind: 'tunnel-refuse', reason: 'unsupported', natClass: 'apdm' });
  t.deepEqual(apdm.steps, []);
  t.deepEqual(calls, []);
  t.is(apdm.puncher.pairing(PEER), 'impossible', 'the requester told its class');

  const eim = setup('eim');
  t.deepEqual(await eim.puncher.answer(req, server), { kind: 'punch-accept', endpoint: '198.51.100.173:1197', natClass: 'eim' });
  t.deepEqual(eim.steps, ['stun from 1197', 'send 3 from 1197 to 198.51.100.7:1195']);

  const bad = await eim.puncher.answer({ ...req, msg: { ...req.msg, endpoint: '127.0.0.1:1195' } }, server);
  t.deepEqual(bad, { kind: 'tunnel-refuse', reason: 'unsupported', natClass: 'eim' });
});

test("a class the registry reported picks the way from the first attempt; the peer's own word since overrides it", async (t) => {
  const classes = new PeerNatClasses();
  const { clock, puncher } = setup('eim', async () => reply({ kind: 'punch-accept', endpoint: '203.0.113.9:1196', natClass: 'eim' }), classes);
  const lastSeen = clock.nowMs() - 5_000;
  classes.fromRegistry(PEER, 'public', lastSeen);
  t.is(puncher.peerClass(PEER), 'public');
  t.is(puncher.pairing(PEER), 'direct', 'an ordinary tunnel-request, no first attempt wasted');
  classes.fromRegistry(PEER, 'eim', lastSeen);
  t.is(puncher.pairing(PEER), 'punch', 'straight to hole punching');
  // The peer answers a punch (it is eim now); an older registry copy cannot undo that.
  t.true((await puncher.punch(PEER, 1195, new AbortController().signal)).ok);
  classes.fromRegistry(PEER, 'public', lastSeen + 1_000);
  t.is(puncher.peerClass(PEER), 'eim');
  t.is(puncher.pairing(PEER), 'punch');
});
