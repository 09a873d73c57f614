// The reach verifier on a fake clock with scripted peers: a mapping counts as
// verified only when the nonce of the asked peer's probe comes back; probes that
// never arrive from N peers make it unreachable (then checked again later, with a
// growing delay); refusals and silence are no evidence; no peer means waiting.
// A verified mapping is checked again later, quietly; a failed re-check withdraws it.
import test from 'ava';
import type { ReachOutcome } from '../../../wire/messages.js';
import { describeAttempts, ReachVerifier, type ReachStatus, type ReachTimings } from '../../../daemon/upnp/reach.js';
import { FakeClock } from '../../fakes/fake-clock.js';

const TIMINGS: ReachTimings = { arrivalTimeoutMs: 15_000, peersPerRound: 2, noPeerRetryMs: 10_000, retryMinMs: 60_000, retryMaxMs: 240_000, recheckMs: 1_800_000 };
const EP = '198.51.100.7:1194';

/** How each scripted peer behaves when asked. */
type Behaviour = 'delivers' | 'drops' | 'silent' | ReachOutcome;

function setup(peers: Record<string, Behaviour>, opts: { random?: number } = {}) {
  const clock = new FakeClock();
  const statuses: ReachStatus[] = [];
  /** When each status was set. */
  const times: number[] = [];
  const asked: { peer: string; endpoint: string; nonce: string }[] = [];
  let candidates = Object.keys(peers).map((prefix) => ({ prefix }));
  let n = 0;
  const verifier: ReachVerifier<{ prefix: string }> = new ReachVerifier({
    clock,
    random: () => opts.random ?? 0.5,
    nonce: () => Buffer.alloc(16, ++n),
    candidates: () => candidates,
    ask: async (peer, endpoint, nonce, signal) => {
      asked.push({ peer: peer.prefix, endpoint, nonce: nonce.toString('hex') });
      const b = peers[peer.prefix]!;
      if (b === 'silent') {
        await clock.sleep(16_000, { signal });
        throw new Error('no reply');
      }
      // A delivering peer's probe arrives after 50 ms, before or after its answer.
      if (b === 'delivers') clock.setTimeout(() => verifier.probeArrived(nonce), 50);
      await clock.sleep(20, { signal });
      return b === 'delivers' || b === 'drops' ? 'sent' : b;
    },
    onStatus: (s) => {
      statuses.push(s);
      times.push(clock.nowMs());
    },
    timings: TIMINGS,
  });
  return { clock, verifier, statuses, times, asked, setCandidates: (c: string[]) => (candidates = c.map((prefix) => ({ prefix }))) };
}

const states = (ss: ReachStatus[]) => ss.map((s) => s.state);

test('a probe that arrives verifies the mapping, naming the peer and the time it took', async (t) => {
  const { clock, verifier, statuses, asked } = setup({ 'fd5e::a/64': 'delivers' });
  verifier.check(EP);
  await clock.advance(1_000);
  const s = verifier.status();
  t.is(s.state, 'verified');
  if (s.state !== 'verified') return;
  t.is(s.by, 'fd5e::a/64');
  t.is(s.endpoint, EP);
  t.is(s.tookMs, 50);
  t.deepEqual(states(statuses), ['probing', 'verified']);
  t.is(asked.length, 1);
  // The same endpoint again (a lease renewal) keeps it verified without asking again.
  verifier.check(EP);
  await clock.advance(600_000);
  t.is(verifier.status().state, 'verified');
  t.is(asked.length, 1);
});

test('a probe with another nonce does not verify; the peer after one that dropped it does', async (t) => {
  const { clock, verifier, asked } = setup({ 'fd5e::a/64': 'drops', 'fd5e::b/64': 'delivers' });
  verifier.check(EP);
  await clock.advance(100);
  t.false(verifier.probeArrived(Buffer.alloc(16, 99)), 'a stranger nonce');
  t.is(verifier.status().state, 'probing');
  await clock.advance(TIMINGS.arrivalTimeoutMs + 1_000);
  const s = verifier.status();
  t.is(s.state, 'verified');
  if (s.state === 'verified') t.is(s.by, 'fd5e::b/64');
  t.deepEqual(asked.map((a) => a.peer), ['fd5e::a/64', 'fd5e::b/64']);
  t.not(asked[0]!.nonce, asked[1]!.nonce, 'a fresh nonce per probe');
});

test('probes from N peers that never arrive: unreachable, checked again after a jittered, growing, capped delay', async (t) => {
  const { clock, verifier, statuses, times, asked } = setup({ 'fd5e::a/64': 'drops', 'fd5e::b/64': 'drops', 'fd5e::c/64': 'drops' }, { random: 0 });
  const delayOf = (u: { nextCheckAtMs: number }) => u.nextCheckAtMs - times[statuses.indexOf(u as ReachStatus)]!;
  verifier.check(EP);
  await clock.advance(2 * (TIMINGS.arrivalTimeoutMs + 100));
  let s = verifier.status();
  t.is(s.state, 'unreachable');
  if (s.state !== 'unreachable') return;
  t.is(s.attempts.length, 2, 'peersPerRound failed probes end the round');
  t.deepEqual(s.attempts.map((a) => a.result), ['not-arrived', 'not-arrived']);
  t.is(s.failedRounds, 1);
  const first = delayOf(s);
  t.is(first, 0.8 * TIMINGS.retryMinMs, 'random 0 → −20 %');
  t.regex(describeAttempts(s.attempts), /fd5e::a\/64 sent a probe, nothing arrived/);
  t.is(asked.length, 2);

  // Next round after the delay, then the delay doubles, and stops at the cap.
  const delays: number[] = [first];
  for (let round = 2; round <= 4; round++) {
    await clock.advance(delays.at(-1)! + 2 * (TIMINGS.arrivalTimeoutMs + 100));
    s = verifier.status();
    t.is(s.state, 'unreachable');
    if (s.state !== 'unreachable') return;
    t.is(s.failedRounds, round);
    delays.push(delayOf(s));
  }
  t.deepEqual(delays, [48_000, 96_000, 192_000, 192_000]);
  t.false(states(statuses).includes('verified'));
});

test('refusals and silence are no evidence: with nobody able to probe, the mapping waits instead of failing', async (t) => {
  const { clock, verifier, statuses, asked } = setup({ 'fd5e::a/64': 'rate-limited', 'fd5e::b/64': 'silent', 'fd5e::c/64': 'not-your-address' });
  verifier.check(EP);
  await clock.advance(20_000);
  const s = verifier.status();
  t.is(s.state, 'waiting');
  if (s.state === 'waiting') t.regex(s.why, /fd5e::a\/64 refused \(rate-limited\); fd5e::b\/64 did not answer; fd5e::c\/64 refused \(not-your-address\)/);
  t.false(states(statuses).includes('unreachable'));
  t.is(asked.length, 3);
  // They are asked again after noPeerRetryMs.
  await clock.advance(TIMINGS.noPeerRetryMs);
  t.true(asked.length > 3);
});

test('no peer yet: waiting (not a failure), and the first peer that shows up is asked', async (t) => {
  const { clock, verifier, setCandidates } = setup({ 'fd5e::a/64': 'delivers' });
  setCandidates([]);
  verifier.check(EP);
  await clock.advance(30_000);
  const s = verifier.status();
  t.is(s.state, 'waiting');
  if (s.state === 'waiting') t.is(s.why, 'no live peer to probe it yet');
  setCandidates(['fd5e::a/64']);
  await clock.advance(TIMINGS.noPeerRetryMs + 1_000);
  t.is(verifier.status().state, 'verified');
});

test('a probe may overtake the answer to the request; a single peer whose probe is lost ends the round', async (t) => {
  const early = setup({ 'fd5e::a/64': 'delivers' });
  early.verifier.check(EP);
  await early.clock.advance(30); // the probe (50 ms) comes after the answer (20 ms) here …
  t.is(early.verifier.status().state, 'probing');
  await early.clock.advance(100);
  t.is(early.verifier.status().state, 'verified');

  const lone = setup({ 'fd5e::a/64': 'drops' });
  lone.verifier.check(EP);
  await lone.clock.advance(TIMINGS.arrivalTimeoutMs + 1_000);
  t.is(lone.verifier.status().state, 'unreachable', 'every candidate asked, one failed: unreachable, not waiting');
});

test('another endpoint starts over; no endpoint (mapping gone) is idle and stops asking', async (t) => {
  const { clock, verifier, asked } = setup({ 'fd5e::a/64': 'delivers' });
  verifier.check(EP);
  await clock.advance(1_000);
  verifier.check('198.51.100.7:40000');
  t.is(verifier.status().state, 'probing');
  await clock.advance(1_000);
  const s = verifier.status();
  t.true(s.state === 'verified' && s.endpoint === '198.51.100.7:40000');
  verifier.check(undefined);
  t.is(verifier.status().state, 'idle');
  await clock.advance(3_600_000);
  t.is(asked.length, 2);
  t.is(clock.pendingTimers(), 0);
});

test('a verified mapping is checked again after recheckMs (jittered), quietly: it stays verified and counts confirmations', async (t) => {
  const { clock, verifier, statuses, times, asked } = setup({ 'fd5e::a/64': 'delivers' }, { random: 0 });
  verifier.check(EP);
  await clock.advance(1_000);
  let s = verifier.status();
  t.true(s.state === 'verified' && s.confirmations === 0);
  if (s.state !== 'verified') return;
  const recheckAt = s.nextCheckAtMs;
  t.is(recheckAt - times.at(-1)!, 0.8 * TIMINGS.recheckMs, 'random 0 → −20 %');
  await clock.advance(recheckAt - clock.nowMs() - 1);
  t.is(asked.length, 1, 'not before the re-check is due');
  await clock.advance(1_000);
  t.is(asked.length, 2);
  t.not(asked[1]!.nonce, asked[0]!.nonce, 'a fresh nonce');
  s = verifier.status();
  t.true(s.state === 'verified' && s.confirmations === 1 && s.atMs > recheckAt - 1, JSON.stringify(s));
  // Two rounds, two more re-checks: the status went verified → verified → verified, never probing again.
  await clock.advance(2 * TIMINGS.recheckMs);
  t.is(asked.length, 4);
  t.deepEqual(states(statuses), ['probing', 'verified', 'verified', 'verified', 'verified']);
  s = verifier.status();
  t.true(s.state === 'verified' && s.confirmations === 3, JSON.stringify(s));
});

test('a re-check whose probes no longer arrive makes the mapping unreachable (withdrawn), with backoff from the start and when it was last verified', async (t) => {
  const peers: Record<string, Behaviour> = { 'fd5e::a/64': 'delivers', 'fd5e::b/64': 'delivers' };
  const { clock, verifier, statuses, times } = setup(peers, { random: 0 });
  verifier.check(EP);
  await clock.advance(1_000);
  const first = verifier.status();
  if (first.state !== 'verified') return t.fail(first.state);
  // The router starts dropping what arrives on the mapping.
  peers['fd5e::a/64'] = 'drops';
  peers['fd5e::b/64'] = 'drops';
  await clock.advance(first.nextCheckAtMs - clock.nowMs() + 2 * (TIMINGS.arrivalTimeoutMs + 100));
  const s = verifier.status();
  t.is(s.state, 'unreachable');
  if (s.state !== 'unreachable') return;
  t.is(s.verifiedAtMs, first.atMs);
  t.is(s.failedRounds, 1);
  t.is(s.nextCheckAtMs - times.at(-1)!, 0.8 * TIMINGS.retryMinMs, 'the retry backoff starts at its minimum');
  t.deepEqual(states(statuses), ['probing', 'verified', 'unreachable'], 'verified until the round failed, no probing in between');
  // The router delivers again: verified anew on the next retry (a first verification again, so it is announced with an event).
  peers['fd5e::a/64'] = 'delivers';
  await clock.advance(s.nextCheckAtMs - clock.nowMs() + 1_000);
  const again = verifier.status();
  t.true(again.state === 'verified' && again.confirmations === 0, JSON.stringify(again));
});

test('a re-check with nobody to ask keeps the mapping verified and asks the first peer that shows up', async (t) => {
  const { clock, verifier, statuses, asked, setCandidates } = setup({ 'fd5e::a/64': 'delivers' });
  verifier.check(EP);
  await clock.advance(1_000);
  setCandidates([]);
  await clock.advance(TIMINGS.recheckMs * 1.2 + 60_000);
  t.is(verifier.status().state, 'verified');
  t.false(states(statuses).includes('waiting'));
  t.is(asked.length, 1);
  setCandidates(['fd5e::a/64']);
  await clock.advance(TIMINGS.noPeerRetryMs + 1_000);
  t.is(asked.length, 2);
  const s = verifier.status();
  t.true(s.state === 'verified' && s.confirmations === 1);
});
