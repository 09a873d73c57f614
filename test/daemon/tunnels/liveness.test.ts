// Link liveness as stepped tables: time and what happened (a packet from the
// peer, a hello saying how late the peer ran, a check by a tick of this host,
// which may itself run late) → the actions taken and the state left.
import test from 'ava';
import {
  checkLinkLiveness,
  checkSilenceSince,
  declareLost,
  helloEveryMs,
  idlePolicy,
  livenessPolicy,
  lostAfterMs,
  lostReason,
  newLinkLiveness,
  nextLivenessDeadlineMs,
  noteLateness,
  NO_LATENESS,
  onLinkPacket,
  probeDueMs,
  PROBES_PER_SILENCE,
  recentLateMs,
  widenMs,
  type Lateness,
  type LinkLiveness,
  type LivenessAction,
} from '../../../daemon/tunnels/liveness.js';

const policy = livenessPolicy(0.25, 4);

/**
 * One step: `heard` (anything from the peer; `peerLateMs` when it was a hello
 * saying how late it ran) or a check by this host's timer, which fired
 * `tickLateMs` after it was due (the host remembers that lateness).
 */
type Step = { atMs: number; heard?: true; peerLateMs?: number; tickLateMs?: number };

function run(steps: Step[]): { state: LinkLiveness; local: Lateness; log: Array<{ atMs: number } & LivenessAction> } {
  let state = newLinkLiveness();
  let local = NO_LATENESS;
  const log: Array<{ atMs: number } & LivenessAction> = [];
  for (const s of steps) {
    let r;
    if (s.heard) {
      r = onLinkPacket(state, s.atMs, policy, s.peerLateMs);
    } else {
      local = noteLateness(local, s.atMs, s.tickLateMs ?? 0, policy);
      r = checkLinkLiveness(state, s.atMs, policy, recentLateMs(local, s.atMs, policy));
    }
    state = r.state;
    for (const a of r.actions) log.push({ atMs: s.atMs, ...a });
  }
  return { state, local, log };
}

/** The peer heard every 250 ms from `fromMs` to `toMs`, with on-time checks between. */
function steady(fromMs: number, toMs: number): Step[] {
  const steps: Step[] = [];
  for (let ms = fromMs; ms <= toMs; ms += 250) steps.push({ atMs: ms, heard: true }, { atMs: ms + 125 });
  return steps;
}

/** On-time checks every 250 ms in (fromMs, toMs]. */
function checks(fromMs: number, toMs: number): Step[] {
  const steps: Step[] = [];
  for (let ms = fromMs + 250; ms <= toMs; ms += 250) steps.push({ atMs: ms });
  return steps;
}

test('the policy at the defaults: lost after 1 s, jitter up to 25 ms, widening up to 8 s, restart after 5 s then backing off from 30 s to 240 s', (t) => {
  t.is(lostAfterMs(policy), 1_000);
  t.like(policy, { lateToleranceMs: 25, maxWidenMs: 8_000, lateMemoryMs: 30_000, restartAfterMs: 5_000, restartEveryMs: 30_000, restartMaxMs: 240_000 });
  t.is(lostReason(1_000), 'nothing heard for 1.0 s');
  t.is(lostReason(1_249), 'nothing heard for 1.2 s');
  t.is(lostReason(2_500, 1_500), 'nothing heard for 2.5 s, deadline widened by 1.5 s for late timers and past stalls');
  t.is(lostReason(1_040, 40), 'nothing heard for 1.0 s', 'a widening too small to show is not mentioned');
});

test('lateness: a peak that fades linearly over 30 s; a smaller sample does not replace a larger faded one', (t) => {
  let l = noteLateness(NO_LATENESS, 10_000, 2_000, policy);
  t.is(recentLateMs(l, 10_000, policy), 2_000);
  t.is(recentLateMs(l, 25_000, policy), 1_000);
  t.is(recentLateMs(l, 40_000, policy), 0);
  l = noteLateness(l, 25_000, 500, policy);
  t.is(l.peakMs, 2_000);
  l = noteLateness(l, 25_000, 1_200, policy);
  t.deepEqual(l, { peakMs: 1_200, atMs: 25_000 });
  t.deepEqual(noteLateness(NO_LATENESS, 1, 0, policy), NO_LATENESS);
});

test('nothing ever heard: never lost (the peer may not run link liveness)', (t) => {
  const { state, log } = run([{ atMs: 0 }, { atMs: 10_000 }, { atMs: 100_000, tickLateMs: 5_000 }]);
  t.is(state.phase, 'waiting');
  t.deepEqual(log, []);
  t.is(nextLivenessDeadlineMs(state, 100_000, policy), undefined);
});

test('the peer heard every 250 ms keeps the link alive', (t) => {
  const { state, log } = run([...steady(0, 5_000), { atMs: 5_999 }]);
  t.is(state.phase, 'alive');
  t.deepEqual(log, []);
});

test('a silent cut at the defaults, on time: lost within 1 s of the cut, once', (t) => {
  // Last packet at 1000 ms, the cut just after it; checks every 250 ms (the hello ticks) and at the deadline.
  const { state, log } = run([...steady(0, 1_000), ...checks(1_000, 1_750), { atMs: 1_999 }, { atMs: 2_000 }, ...checks(2_000, 3_000)]);
  t.deepEqual(log, [{ atMs: 2_000, kind: 'lost', silentMs: 1_000, widenedMs: 0 }]);
  t.is(state.phase, 'lost');
  t.is(state.lostSinceMs, 2_000);
});

test('a few ms of timer jitter does not delay the verdict', (t) => {
  const { log } = run([...steady(0, 1_000), { atMs: 1_260, tickLateMs: 10 }, { atMs: 1_515, tickLateMs: 15 }, { atMs: 2_000, tickLateMs: 0 }]);
  t.deepEqual(log, [{ atMs: 2_000, kind: 'lost', silentMs: 1_000, widenedMs: 0 }]);
});

test('starvation: this host runs 2 s late, then reads a burst of the peer\'s packets: no loss', (t) => {
  // Packets up to 1000 ms were read; then the loop stalls until 3250 ms. The tick due at 1250 ms
  // fires 2 s late and sees 2.25 s of "silence", but the peer's packets are queued behind it.
  const { state, log } = run([
    ...steady(0, 1_000),
    { atMs: 3_250, tickLateMs: 2_000 },
    ...[3_251, 3_252, 3_253, 3_254, 3_255, 3_256, 3_257, 3_258, 3_259].map((atMs) => ({ atMs, heard: true as const })),
    ...checks(3_259, 6_000),
    ...steady(6_000, 8_000),
  ]);
  t.deepEqual(log, []);
  t.is(state.phase, 'alive');
  t.is(state.flaps, 0);
});

test('starvation that ends a hair past the deadline, packets queued: still no loss', (t) => {
  // Read up to 1000 ms, stall from 1010 ms to 2001 ms: the tick due at 1250 ms fires at 2001 ms.
  const { log } = run([...steady(0, 1_000), { atMs: 2_001, tickLateMs: 751 }, { atMs: 2_002, heard: true }, { atMs: 2_250 }]);
  t.deepEqual(log, []);
});

test('a real cut on a starved host is still found, later: the widening is capped', (t) => {
  // The host ran 2 s late at 3250 ms and nothing ever comes again.
  const { log } = run([...steady(0, 1_000), { atMs: 3_250, tickLateMs: 2_000 }, ...checks(3_250, 8_000)]);
  t.is(log.length, 1);
  const lost = log[0]! as { atMs: number; kind: 'lost'; silentMs: number; widenedMs: number };
  t.is(lost.kind, 'lost');
  t.true(lost.widenedMs > 0 && lost.widenedMs <= policy.maxWidenMs, `widened by ${lost.widenedMs} ms`);
  t.true(lost.atMs <= 1_000 + lostAfterMs(policy) + policy.maxWidenMs + policy.helloIntervalMs, `lost at ${lost.atMs} ms`);
});

test('a late sender widens the deadline by twice its lateness beyond jitter', (t) => {
  // The peer says its timers ran 400 ms late: the deadline is 1 s + 2 × (400 − 25) ms = 1.75 s
  // then, a little less as that lateness fades (400 ms × (1 − 1.749 s / 30 s) ≈ 377 ms at 2749 ms).
  const base = [...steady(0, 750), { atMs: 1_000, heard: true as const, peerLateMs: 400 }];
  t.is(widenMs(run(base).state, 1_000, policy, 0), 750);
  const late = run([...base, ...checks(1_000, 2_500), { atMs: 2_700 }, { atMs: 2_749 }]);
  t.deepEqual(late.log, [{ atMs: 2_749, kind: 'lost', silentMs: 1_749, widenedMs: 703 }]);
  // The same silence from an on-time peer was lost at 2 s.
  t.deepEqual(run([...steady(0, 1_000), ...checks(1_000, 2_750)]).log.map((a) => a.atMs), [2_000]);
  // A hello without the item leaves the peer's reported lateness as it was (it fades by itself).
  const then = run([...base, { atMs: 1_100, heard: true }]);
  t.is(then.state.peerLate.peakMs, 400);
});

test('the peer\'s lateness is forgotten after 30 s: the deadline shrinks back to 1 s', (t) => {
  const { log } = run([{ atMs: 0, heard: true, peerLateMs: 400 }, ...steady(250, 40_000), ...checks(40_000, 41_000)]);
  t.deepEqual(log, [{ atMs: 41_000, kind: 'lost', silentMs: 1_000, widenedMs: 0 }]);
});

test('local and peer lateness add up, and the widening stops at its cap', (t) => {
  const s = run([{ atMs: 0, heard: true, peerLateMs: 5_000 }]).state;
  t.is(widenMs(s, 0, policy, 5_000), policy.maxWidenMs);
  const small = run([{ atMs: 0, heard: true, peerLateMs: 125 }]).state;
  t.is(widenMs(small, 0, policy, 225), 2 * (100 + 200));
});

test('the deadline is exactly where the lost check fires', (t) => {
  const r = onLinkPacket(newLinkLiveness(), 7_000, policy);
  t.is(nextLivenessDeadlineMs(r.state, 7_000, policy), 8_000);
  t.is(nextLivenessDeadlineMs(r.state, 7_000, policy, 525), 9_000);
  t.deepEqual(checkLinkLiveness(r.state, 7_999, policy).actions, []);
  t.deepEqual(checkLinkLiveness(r.state, 8_000, policy).actions, [{ kind: 'lost', silentMs: 1_000, widenedMs: 0 }]);
});

test('heard again: restored with the outage length, and each restore is one flap', (t) => {
  const { state, log } = run([
    { atMs: 0, heard: true },
    { atMs: 1_000 },
    { atMs: 3_500, heard: true },
    // The 2.5 s gap it came back from is allowed for a while (fading): 1 s of silence is no loss now.
    { atMs: 4_500 },
    { atMs: 7_000 },
    { atMs: 7_100, heard: true },
    { atMs: 7_200 },
  ]);
  t.deepEqual(log, [
    { atMs: 1_000, kind: 'lost', silentMs: 1_000, widenedMs: 0 },
    { atMs: 3_500, kind: 'restored', lostForMs: 2_500, flaps: 1 },
    { atMs: 7_000, kind: 'lost', silentMs: 3_500, widenedMs: 2_427 },
    { atMs: 7_100, kind: 'restored', lostForMs: 100, flaps: 2 },
  ]);
  t.is(state.phase, 'alive');
  t.is(state.flaps, 2);
  t.is(nextLivenessDeadlineMs(state, 7_200, policy), 10_698);
});

test('a link that stays lost: our end restarted after 5 s, then after 30, 60, 120 s, at most every 240 s', (t) => {
  const { log } = run([{ atMs: 0, heard: true }, ...checks(0, 720_000)]);
  t.deepEqual(log, [
    { atMs: 1_000, kind: 'lost', silentMs: 1_000, widenedMs: 0 },
    { atMs: 6_000, kind: 'restart', lostForMs: 5_000 },
    { atMs: 36_000, kind: 'restart', lostForMs: 35_000 },
    { atMs: 96_000, kind: 'restart', lostForMs: 95_000 },
    { atMs: 216_000, kind: 'restart', lostForMs: 215_000 },
    { atMs: 456_000, kind: 'restart', lostForMs: 455_000 },
    { atMs: 696_000, kind: 'restart', lostForMs: 695_000 },
  ]);
});

test('after a restore, a new loss counts its restarts afresh: 5 s, then 30 s again', (t) => {
  const { log } = run([
    { atMs: 0, heard: true },
    { atMs: 1_000 },
    { atMs: 6_000 },
    { atMs: 36_000 },
    { atMs: 37_000, heard: true },
    { atMs: 38_000 },
    { atMs: 42_999 },
    { atMs: 43_000 },
    { atMs: 72_999 },
    { atMs: 73_000 },
  ]);
  t.deepEqual(log.map((a) => `${a.atMs} ${a.kind}`), ['1000 lost', '6000 restart', '36000 restart', '37000 restored', '38000 lost', '43000 restart', '73000 restart']);
});

test('declareLost (the peer says its end stopped): lost at once, only from alive', (t) => {
  const alive = onLinkPacket(newLinkLiveness(), 100, policy).state;
  const r = declareLost(alive, 400);
  t.deepEqual(r.actions, [{ kind: 'lost', silentMs: 300, widenedMs: 0 }]);
  t.is(r.state.phase, 'lost');
  t.deepEqual(declareLost(r.state, 500).actions, []);
  t.deepEqual(declareLost(newLinkLiveness(), 500).actions, []);
});

test('a link back by itself from a 2.5 s gap allows such a gap for a while: the next stall is no loss; two minutes later the deadline is 1 s again', (t) => {
  const stalled = [...steady(0, 1_000), ...checks(1_000, 3_250), ...steady(3_500, 10_000)];
  const first = run(stalled);
  t.deepEqual(first.log.map((a) => `${a.atMs} ${a.kind}`), ['2000 lost', '3500 restored']);
  t.deepEqual(first.state.stall, { peakMs: 1_500, atMs: 3_500 });
  // The same gap again 8 s later: the deadline is 1 s + the faded 1.5 s.
  const again = run([...stalled, ...checks(10_000, 12_250), ...steady(12_500, 14_000)]);
  t.deepEqual(again.log.map((a) => `${a.atMs} ${a.kind}`), ['2000 lost', '3500 restored']);
  // A cut: found once the allowance is used up, and reported with it.
  const cut = run([...stalled, ...checks(10_000, 14_000)]);
  t.deepEqual(cut.log.slice(2), [{ atMs: 12_500, kind: 'lost', silentMs: 2_500, widenedMs: 1_388 }]);
  // Two minutes after the stall it is forgotten.
  const later = run([...stalled, ...steady(10_250, 130_000), ...checks(130_000, 131_500)]);
  t.deepEqual(later.log.slice(2), [{ atMs: 131_000, kind: 'lost', silentMs: 1_000, widenedMs: 0 }]);
});

test('a link back only after our restart showed a cut, not a stall: no allowance', (t) => {
  const { state, log } = run([...steady(0, 1_000), ...checks(1_000, 8_000), { atMs: 8_100, heard: true }]);
  t.deepEqual(log.map((a) => `${a.atMs} ${a.kind}`), ['2000 lost', '7000 restart', '8100 restored']);
  t.deepEqual(state.stall, NO_LATENESS);
});

test('hello cadence: the interval on time; slowed by a quarter of the late widening (ours and the peer\'s), capped; the peer still gets `misses` hellos in its deadline', (t) => {
  const fresh = newLinkLiveness();
  t.is(helloEveryMs(fresh, 0, policy, 0), 250);
  t.is(helloEveryMs(fresh, 0, policy, 25), 250, 'jitter does not slow anything');
  // This host ran 2 s late: widening 2 × 1975 ms, a quarter of it added to the interval.
  t.is(helloEveryMs(fresh, 0, policy, 2_000), 250 + 987);
  const latePeer = run([{ atMs: 0, heard: true, peerLateMs: 525 }]).state;
  t.is(helloEveryMs(latePeer, 0, policy, 0), 250 + 250, 'the peer ran 525 ms late: 2 × 500 / 4');
  t.is(helloEveryMs(latePeer, 0, policy, 1_025), 250 + 750, 'both add up');
  t.is(helloEveryMs(latePeer, 30_000, policy, 0), 250, 'the peer\'s lateness faded');
  t.is(helloEveryMs(fresh, 0, policy, 60_000), 250 + policy.maxWidenMs / policy.misses, 'capped: 2.25 s at the defaults');
  // The peer widens its deadline for us by our lateness (which our hellos carry) and its own: as many
  // of our slowed hellos fit in it as on-time hellos fit in an on-time deadline.
  for (const [oursMs, theirsMs] of [[0, 0], [400, 0], [0, 900], [2_000, 3_000], [9_000, 9_000]] as const) {
    const ourView = run([{ atMs: 0, heard: true, peerLateMs: theirsMs }]).state;
    const theirView = run([{ atMs: 0, heard: true, peerLateMs: oursMs }]).state;
    const theirDeadlineMs = lostAfterMs(policy) + widenMs(theirView, 0, policy, theirsMs);
    t.true(policy.misses * helloEveryMs(ourView, 0, policy, oursMs) <= theirDeadlineMs, `late ${oursMs}/${theirsMs}`);
  }
});

test('a lost link whose peer runs late: restarts wait twice the late widening longer', (t) => {
  // The peer said it ran 1,025 ms late: lost at 3 s instead of 1 s. On time the restart would come 5 s
  // after the loss (8 s); here 2 × the late widening later, which fades with the lateness: at 10.75 s
  // it is 2 × 2 × (1025 × (1 − 10.75 / 30) − 25) ≈ 2.5 s. The next restart backs off as on time.
  const { log } = run([{ atMs: 0, heard: true, peerLateMs: 1_025 }, ...checks(0, 45_000)]);
  t.deepEqual(log.map((a) => `${a.atMs} ${a.kind}`), ['3000 lost', '10750 restart', '40750 restart']);
  // On time, the same silence: restarts at 6 s and 36 s (test above).
});

test('the first probe is due one interval before the deadline, widened as the deadline is; none while waiting or lost', (t) => {
  const alive = onLinkPacket(newLinkLiveness(), 10_000, policy).state;
  t.is(probeDueMs(alive, 10_000, policy), 10_750);
  t.is(probeDueMs(alive, 10_000, policy), nextLivenessDeadlineMs(alive, 10_000, policy)! - 250);
  t.is(probeDueMs(alive, 10_000, policy, 525), nextLivenessDeadlineMs(alive, 10_000, policy, 525)! - 250);
  t.true(probeDueMs(alive, 10_000, policy, 525)! > 10_750);
  t.is(probeDueMs(newLinkLiveness(), 10_000, policy), undefined);
  t.is(probeDueMs(declareLost(alive, 10_500).state, 10_500, policy), undefined);
});

test('four probes per silence, a quarter interval apart before the deadline; then none', (t) => {
  const alive = onLinkPacket(newLinkLiveness(), 10_000, policy).state;
  t.deepEqual([0, 1, 2, 3, 4].map((sent) => probeDueMs(alive, 10_000, policy, 0, sent)), [10_750, 10_813, 10_875, 10_938, undefined]);
  t.is(PROBES_PER_SILENCE, 4);
});

test('idlePolicy: pace 4 makes the deadline and the probes\' spacing four times as long, and nothing else; pace 1 is the policy itself', (t) => {
  const p = livenessPolicy(0.25, 4);
  const idle = idlePolicy(p, 4);
  t.is(lostAfterMs(idle), 4_000);
  t.deepEqual({ ...idle, helloIntervalMs: p.helloIntervalMs }, p, 'lateness, widening and restarts as before');
  t.is(idlePolicy(p, 1), p);
  const heard = onLinkPacket(newLinkLiveness(), 0, p).state;
  t.is(probeDueMs(heard, 0, idle), 3_000, 'the first probe one paced interval before the deadline');
  t.is(probeDueMs(heard, 0, idle, 0, 1), 3_250);
});

test('checkSilenceSince: the deadline runs from the later of the question and the last packet; the verdict tells the whole silence and the state keeps it', (t) => {
  const p = livenessPolicy(0.25, 4);
  const heard = onLinkPacket(newLinkLiveness(), 0, p).state;
  const quiet = checkSilenceSince(heard, 3_000, 3_900, p);
  t.deepEqual(quiet, { state: heard, actions: [] }, '0.9 s after the question: nothing, and the state untouched');
  const lost = checkSilenceSince(heard, 3_000, 4_000, p);
  t.is(lost.state.phase, 'lost');
  t.is(lost.state.lastHeardMs, 0);
  t.deepEqual(lost.actions, [{ kind: 'lost', silentMs: 4_000, widenedMs: 0 }]);
  // A packet after the question: the question does not count.
  const later = onLinkPacket(heard, 3_500, p).state;
  t.deepEqual(checkSilenceSince(later, 3_000, 4_000, p).actions, []);
});
