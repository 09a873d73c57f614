// The retry policy on a stepped clock: each step is a failed attempt at its own
// time, with the state and the standing the policy must give.
import test from 'ava';
import { parseNodeConfig } from '../../../config/node-config.js';
import {
  DEFAULT_PEER_POLICY,
  LIVE_STATE,
  applyBusy,
  applyFailure,
  classifyPeer,
  deadRetryDelayMs,
  nextRetryAtMs,
  peerPolicyFromConfig,
  retryDelayMs,
  type FailureState,
} from '../../../daemon/peers/retry-policy.js';

const T0 = 1_700_000_000_000;
const S = 1000;
const MIN = 60 * S;
const mid = (): number => 0.5;

test('live backoff doubles from 30 s and is capped at 30 min', (t) => {
  t.deepEqual([0, 1, 2, 3, 7, 40].map((n) => retryDelayMs(n)), [0, 30 * S, 60 * S, 120 * S, 30 * MIN, 30 * MIN]);
});

test('dead-peer wait: 2 min · 2^k up to 30 min, scaled by 1 ± 20 %', (t) => {
  t.deepEqual([0, 1, 2, 3, 4, 5, 20].map((k) => deadRetryDelayMs(k, mid)), [2 * MIN, 4 * MIN, 8 * MIN, 16 * MIN, 30 * MIN, 30 * MIN, 30 * MIN]);
  t.is(deadRetryDelayMs(0, () => 0), 96 * S, 'lowest: −20 %');
  t.is(deadRetryDelayMs(0, () => 0.999999), 144 * S, 'highest: +20 %');
  t.is(deadRetryDelayMs(10, () => 0.75), 33 * MIN, 'the cap is jittered too');
  const spread = new Set([0.1, 0.3, 0.7, 0.9].map((r) => deadRetryDelayMs(2, () => r)));
  t.is(spread.size, 4, 'peers that died together are retried at different times');
});

interface Step {
  atMs: number;
  want: Partial<FailureState>;
  /** Standing just before and at the retry time. */
  standing: [string, string];
}

test('stepped: three failures kill the peer; each failed retry doubles the wait; the standing follows', (t) => {
  const steps: Step[] = [
    { atMs: T0, want: { failures: 1, dead: false, retryAtMs: T0 + 30 * S }, standing: ['backoff', 'ready'] },
    { atMs: T0 + 30 * S, want: { failures: 2, dead: false, retryAtMs: T0 + 90 * S }, standing: ['backoff', 'ready'] },
    { atMs: T0 + 90 * S, want: { failures: 3, dead: true, deadCause: 'failures', deadSinceMs: T0 + 90 * S, retryAtMs: T0 + 90 * S + 2 * MIN }, standing: ['dead-waiting', 'dead-due'] },
    // Failed retries: 4, 8, 16, then 30 min (capped); since and reason stay those of the death.
    { atMs: T0 + 90 * S + 2 * MIN, want: { failures: 4, dead: true, deadSinceMs: T0 + 90 * S, retryAtMs: T0 + 90 * S + 6 * MIN }, standing: ['dead-waiting', 'dead-due'] },
    { atMs: T0 + 90 * S + 6 * MIN, want: { failures: 5, retryAtMs: T0 + 90 * S + 14 * MIN }, standing: ['dead-waiting', 'dead-due'] },
    { atMs: T0 + 90 * S + 14 * MIN, want: { failures: 6, retryAtMs: T0 + 90 * S + 30 * MIN }, standing: ['dead-waiting', 'dead-due'] },
    { atMs: T0 + 90 * S + 30 * MIN, want: { failures: 7, retryAtMs: T0 + 90 * S + 60 * MIN }, standing: ['dead-waiting', 'dead-due'] },
    { atMs: T0 + 90 * S + 60 * MIN, want: { failures: 8, retryAtMs: T0 + 90 * S + 90 * MIN, deadReason: '3 failed attempts (no answer)' }, standing: ['dead-waiting', 'dead-due'] },
  ];
  let state: FailureState = LIVE_STATE;
  for (const s of steps) {
    state = applyFailure(state, 'no answer', s.atMs, mid);
    t.like(state, { ...s.want, lastFailureMs: s.atMs }, `at +${(s.atMs - T0) / S} s`);
    t.deepEqual([classifyPeer(state, state.retryAtMs - 1), classifyPeer(state, state.retryAtMs)], s.standing, `standing at +${(s.atMs - T0) / S} s`);
    t.is(nextRetryAtMs(state), state.retryAtMs, 'NEXT RETRY is the time the retry is due');
  }
});

test('a revoked peer only counts failures: never due, no next retry', (t) => {
  const revoked: FailureState = { ...LIVE_STATE, dead: true, deadCause: 'revoked', deadSinceMs: T0, deadReason: 'certificate 1a revoked' };
  const after = applyFailure(revoked, 'no answer', T0 + MIN, mid);
  t.like(after, { failures: 1, retryAtMs: 0, dead: true, deadCause: 'revoked', deadReason: 'certificate 1a revoked' });
  t.is(classifyPeer(after, T0 + 1000 * MIN), 'revoked');
  t.is(nextRetryAtMs(after), null);
  t.is(nextRetryAtMs(LIVE_STATE), null, 'a live peer without backoff has no retry time');
});

test('[peers] in resilnet.toml sets the policy (seconds → ms); the defaults are the real-network ones', (t) => {
  const minimal = '[registry]\nurl = "https://10.1.0.1:8443"\n';
  t.deepEqual(peerPolicyFromConfig(parseNodeConfig(minimal, '/x.toml').peers), { ...DEFAULT_PEER_POLICY, retryBaseMs: 10 * S });
  const short = parseNodeConfig(`${minimal}[peers]\nretry_base = 2\ndead_after_failures = 2\ndead_retry_base = 15\ndead_retry_max = 60\n`, '/x.toml');
  t.like(peerPolicyFromConfig(short.peers), { retryBaseMs: 2 * S, deadAfterFailures: 2, deadRetryBaseMs: 15 * S, deadRetryMaxMs: 60 * S, deadRetryJitter: 0.2 });
  t.throws(() => parseNodeConfig(`${minimal}[peers]\ndead_retry_base = 0\n`, '/x.toml'), { message: /peers\.dead_retry_base/ });
});

test('a peer that is full is alive: no failure, not dead, left alone 30-90 s, never shortening a longer wait', (t) => {
  const busy = applyBusy(LIVE_STATE, 'tunnel refused: full', T0, mid);
  t.deepEqual(busy, { ...LIVE_STATE, lastFailure: 'tunnel refused: full', lastFailureMs: T0, retryAtMs: T0 + 60 * S });
  t.is(classifyPeer(busy, T0 + 59 * S), 'backoff');
  t.is(classifyPeer(busy, T0 + 60 * S), 'ready');
  t.is(applyBusy(LIVE_STATE, 'full', T0, () => 0).retryAtMs, T0 + 30 * S);
  t.is(applyBusy(LIVE_STATE, 'full', T0, () => 1).retryAtMs, T0 + 90 * S);
  const dead = applyFailure(applyFailure(applyFailure(LIVE_STATE, 'x', T0, mid), 'x', T0, mid), 'x', T0, mid);
  t.true(dead.dead);
  t.like(applyBusy(dead, 'full', T0, mid), { dead: true, failures: 3, retryAtMs: dead.retryAtMs });
});
