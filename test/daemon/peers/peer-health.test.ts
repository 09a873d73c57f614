// PeerHealth over a real in-memory peer DB and a fake clock: failures of this
// host are not held against peers, proof of life revives dead peers, and due
// dead peers get a retry hello on the policy's schedule.
import test from 'ava';
import pino from 'pino';
import { PeerProtoError } from '../../../daemon/peerproto/errors.js';
import { EventLog } from '../../../daemon/events.js';
import { HealthRegistry } from '../../../daemon/health/health.js';
import { PeerDb } from '../../../daemon/peers/peer-db.js';
import { HOST_CUT_OFF, PeerHealth, registrySaysAlive } from '../../../daemon/peers/peer-health.js';
import { FakeClock } from '../../fakes/fake-clock.js';

const S = 1000;
const MIN = 60 * S;
const P = (n: number): string => `fd5e:1:0:${n}::/64`;

type HelloTo = { host: string; port: number; prefix: string };

function setup(options: { answer?: (to: HelloTo) => 'answer' | 'timeout' | 'eperm'; adjacent?: string[] } = {}) {
  const clock = new FakeClock();
  const log = pino({ level: 'silent' });
  const db = new PeerDb(':memory:', { rand: () => 0.5, deadRetryBaseMs: 2 * MIN, deadRetryMaxMs: 30 * MIN });
  const events = new EventLog({ clock });
  const health = new HealthRegistry({ clock, log });
  const hellos: Array<{ atMs: number; to: HelloTo }> = [];
  let registryContactMs: number | null = null;
  const ph = new PeerHealth(
    {
      clock,
      log,
      events,
      health,
      peers: db,
      hello: async (to) => {
        hellos.push({ atMs: clock.nowMs(), to });
        const how = options.answer?.(to) ?? 'timeout';
        if (how === 'answer') return;
        if (how === 'eperm') throw new PeerProtoError('RN_PEERPROTO_SEND', 'cannot send', { cause: Object.assign(new Error('send EPERM'), { code: 'EPERM' }) });
        throw new PeerProtoError('RN_PEERPROTO_TIMEOUT', 'no reply');
      },
      isAdjacent: (p) => options.adjacent?.includes(p) ?? false,
      lastRegistryContactMs: () => registryContactMs,
    },
    { probeIntervalMs: 30 * S },
  );
  for (const n of [1, 2, 3, 4]) db.upsertPeer({ prefix: P(n), addresses: [`10.0.0.${n}:1194`], source: 'registry' }, clock.nowMs());
  const teardown = () => {
    void ph.stop();
    health.stop();
    db.close();
  };
  return { clock, db, events, health, ph, hellos, teardown, setRegistryContact: (ms: number | null) => (registryContactMs = ms) };
}

const eperm = () => new PeerProtoError('RN_PEERPROTO_SEND', 'cannot send a peer message to 10.0.0.1:1194 (send EPERM)', { cause: Object.assign(new Error('send EPERM'), { code: 'EPERM' }) });
const timeout = () => new PeerProtoError('RN_PEERPROTO_TIMEOUT', 'no reply');

test('this host cut off: its own send failures and every peer failing in silence mark nobody dead; the health item says so and clears when anyone is heard', (t) => {
  const { clock, db, health, ph, teardown } = setup();
  t.teardown(teardown);
  ph.heard(P(1)); // the network worked once
  const t0 = clock.nowMs();
  // The cut: tunnels are closed 60 s later without an error, then every attempt fails with EPERM.
  t.like(ph.recordFailure(P(1), 'down for 60 s', t0 + 61 * S), { failures: 1 }, 'the first lone failure is still the peer\'s');
  t.is(ph.recordFailure(P(2), 'down for 60 s', t0 + 61 * S), undefined, 'the second peer failing in silence: this host');
  t.is(ph.recordFailure(P(3), 'down for 60 s', t0 + 61 * S), undefined);
  for (let i = 0; i < 20; i++) {
    for (const n of [1, 2, 3, 4]) t.is(ph.recordFailure(P(n), 'RN_PEERPROTO_SEND', t0 + (70 + 5 * i) * S, eperm()), undefined);
  }
  t.deepEqual(db.listPeers({ dead: true }), [], 'nobody dead');
  t.like(db.getPeer(P(1)), { failures: 1 });
  t.true(health.has(HOST_CUT_OFF));
  t.regex(health.list()[0]!.text, /this host could not send \(EPERM\).*Peers are not marked dead/);
  t.is(ph.status().cutOffSinceMs, t0 + 61 * S);
  ph.heard(P(2), t0 + 200 * S);
  t.false(health.has(HOST_CUT_OFF));
  t.is(ph.status().cutOffSinceMs, null);
});

test('an answer from the registry also shows this host is not cut off: silent peers are then to blame', (t) => {
  const { clock, db, ph, teardown, setRegistryContact } = setup();
  t.teardown(teardown);
  const t0 = clock.nowMs();
  setRegistryContact(t0 - 5 * S);
  for (const n of [1, 2, 3]) t.like(ph.recordFailure(P(n), 'no answer to tunnel-request', t0, timeout()), { failures: 1 });
  t.is(db.listPeers().filter((p) => p.failures === 1).length, 3);
});

test('no answer while others answer: held against the peer, dead at the third, with the event line in the manager\'s hands', (t) => {
  const { clock, db, ph, teardown } = setup();
  t.teardown(teardown);
  const t0 = clock.nowMs();
  for (const [i, atMs] of [t0, t0 + 10 * S, t0 + 30 * S].entries()) {
    ph.heard(P(2), atMs - S); // link hellos from another peer keep coming
    const r = ph.recordFailure(P(1), 'no answer to tunnel-request', atMs, timeout());
    t.like(r, { failures: i + 1, becameDead: i === 2 });
  }
  t.like(db.getPeer(P(1)), { dead: true, deadCause: 'failures', retryAtMs: t0 + 30 * S + 2 * MIN });
});

test('proof of life: a packet from a dead peer revives it (checked at most every 5 s per peer); a revoked one stays dead', (t) => {
  const { clock, db, events, ph, teardown } = setup();
  t.teardown(teardown);
  const t0 = clock.nowMs();
  for (let i = 0; i < 3; i++) db.recordFailure(P(1), 'no answer', t0);
  db.markDead(P(3), 'certificate 3c revoked', t0);
  ph.heard(P(1), t0 + S);
  t.like(db.getPeer(P(1)), { dead: false, failures: 0 });
  t.deepEqual(events.list().map((e) => e.text), [`peer ${P(1)} reachable again (sent us an authenticated message)`]);

  for (let i = 0; i < 3; i++) db.recordFailure(P(1), 'no answer', t0 + 2 * S);
  ph.heard(P(1), t0 + 3 * S);
  t.true(db.getPeer(P(1))!.dead, 'within 5 s of the last check: not looked up again');
  ph.heard(P(1), t0 + 6 * S);
  t.false(db.getPeer(P(1))!.dead);

  ph.heard(P(3), t0 + 10 * S);
  t.true(ph.recordProofOfLife(P(1), 'x', t0 + 11 * S) === false, 'not dead: nothing to revive');
  t.like(db.getPeer(P(3)), { dead: true, deadCause: 'revoked' });
});

test('registry bootstrap: a dead peer the registry saw well after our last failure (30 s), recently, is revived', (t) => {
  const { clock, db, ph, teardown } = setup();
  t.teardown(teardown);
  const t0 = clock.nowMs();
  for (const n of [1, 2, 3]) for (let i = 0; i < 3; i++) db.recordFailure(P(n), 'no answer', t0);
  const iso = (ms: number) => new Date(ms).toISOString();
  ph.registrySaw(
    [
      { prefix: P(1), last_seen: iso(t0 + 31 * S) }, // well after our failure: alive
      { prefix: P(2), last_seen: iso(t0 + 20 * S) }, // soon after it: the registry saw it all along while we could not reach it
      { prefix: P(3), last_seen: 'not a date' },
      { prefix: P(9), last_seen: iso(t0 + 20 * S) }, // unknown
    ],
    t0 + 32 * S,
  );
  t.deepEqual(db.listPeers({ dead: true }).map((p) => p.prefix), [P(2), P(3)]);
  t.false(registrySaysAlive({ dead: true, deadCause: 'failures', deadSinceMs: t0, lastFailureMs: t0 }, t0 - 20 * S, t0 + S, 10 * MIN), 'seen before our failure: proves nothing');
  t.false(registrySaysAlive({ dead: true, deadCause: 'failures', deadSinceMs: t0, lastFailureMs: t0 }, t0 + S, t0 + 11 * MIN, 10 * MIN), 'too old to count');
  t.false(registrySaysAlive({ dead: true, deadCause: 'revoked', deadSinceMs: t0, lastFailureMs: null }, t0 + S, t0 + 2 * S, 10 * MIN), 'revoked');
});

test('retry hellos: a due dead peer is asked on the policy\'s schedule (not before); an answer revives it; silence doubles the wait', async (t) => {
  let p1Answers = false;
  const { clock, db, ph, hellos, teardown } = setup({ answer: (to) => (to.prefix === P(1) && p1Answers ? 'answer' : 'timeout'), adjacent: [P(4)] });
  t.teardown(teardown);
  const t0 = clock.nowMs();
  for (const n of [1, 2, 4]) for (let i = 0; i < 3; i++) db.recordFailure(P(n), 'no answer', t0);
  ph.start();
  // Others keep answering (link hellos every 10 s here), so silence is the dead peer's.
  const advanceHearing = async (ms: number): Promise<void> => {
    for (let done = 0; done < ms; done += 10 * S) {
      ph.heard(P(3));
      await clock.advance(10 * S);
    }
  };

  await advanceHearing(110 * S);
  t.deepEqual(hellos, [], 'not due before 2 min');
  await advanceHearing(40 * S); // probes at +120 s
  t.deepEqual(hellos.map((h) => [h.atMs - t0, h.to.prefix]), [[120 * S, P(1)], [120 * S, P(2)]], 'adjacent P4 is not probed: its tunnel is the retry');
  t.like(db.getPeer(P(2)), { dead: true, failures: 4, retryAtMs: t0 + 120 * S + 4 * MIN });
  t.like(db.getPeer(P(1)), { dead: true, failures: 4 });

  p1Answers = true;
  hellos.length = 0;
  await advanceHearing(4 * MIN);
  t.deepEqual(hellos.map((h) => [h.atMs - t0, h.to.prefix]), [[6 * MIN, P(1)], [6 * MIN, P(2)]]);
  t.like(db.getPeer(P(1)), { dead: false, failures: 0 }, 'answered: alive again');
  t.like(db.getPeer(P(2)), { dead: true, failures: 5, retryAtMs: t0 + 6 * MIN + 8 * MIN });
});

test('retry hellos while this host cannot send: nothing is held against the dead peer, it stays due', async (t) => {
  const { clock, db, ph, hellos, teardown } = setup({ answer: () => 'eperm' });
  t.teardown(teardown);
  const t0 = clock.nowMs();
  for (let i = 0; i < 3; i++) db.recordFailure(P(1), 'no answer', t0);
  ph.start();
  await clock.advance(2 * MIN + 60 * S);
  t.true(hellos.length >= 2, 'retried every round while due');
  t.like(db.getPeer(P(1)), { dead: true, failures: 3, retryAtMs: t0 + 2 * MIN });
});
