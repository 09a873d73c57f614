import test from 'ava';
import {
  checkLinkLiveness,
  livenessPolicy,
  lostAfterMs,
  lostReason,
  newLinkLiveness,
  nextLivenessDeadlineMs,
  onLinkHello,
  type LinkLiveness,
  type LivenessAction,
} from '../../../daemon/tunnels/liveness.js';

const policy = livenessPolicy(0.25, 4);

/** Runs a script of hellos and checks, collecting every action with its time. */
function run(steps: Array<{ atMs: number; hello?: boolean }>): { state: LinkLiveness; log: Array<{ atMs: number } & LivenessAction> } {
  let state = newLinkLiveness();
  const log: Array<{ atMs: number } & LivenessAction> = [];
  for (const s of steps) {
    const r = s.hello ? onLinkHello(state, s.atMs) : checkLinkLiveness(state, s.atMs, policy);
    state = r.state;
    for (const a of r.actions) log.push({ atMs: s.atMs, ...a });
  }
  return { state, log };
}

test('the policy: 4 misses of 250 ms make 1 s; restart after 5 s, then every 30 s', (t) => {
  t.is(lostAfterMs(policy), 1_000);
  t.is(policy.restartAfterMs, 5_000);
  t.is(policy.restartEveryMs, 30_000);
  t.is(lostReason(1_000), 'no hello for 1.0 s');
  t.is(lostReason(1_249), 'no hello for 1.2 s');
});

test('no hello ever: never lost (the peer may not run link liveness)', (t) => {
  const { state, log } = run([{ atMs: 0 }, { atMs: 10_000 }, { atMs: 100_000 }]);
  t.is(state.phase, 'waiting');
  t.deepEqual(log, []);
  t.is(nextLivenessDeadlineMs(state, policy), undefined);
});

test('hellos every 250 ms keep the link alive; a late one inside the window too', (t) => {
  const steps = [];
  for (let ms = 0; ms <= 5_000; ms += 250) steps.push({ atMs: ms, hello: true }, { atMs: ms + 100 });
  steps.push({ atMs: 5_999 });
  const { state, log } = run(steps);
  t.is(state.phase, 'alive');
  t.deepEqual(log, []);
});

test('silence of 1 s after the last hello: lost once, at the deadline', (t) => {
  const { state, log } = run([{ atMs: 0, hello: true }, { atMs: 250, hello: true }, { atMs: 1_000 }, { atMs: 1_249 }, { atMs: 1_250 }, { atMs: 1_500 }, { atMs: 3_000 }]);
  t.deepEqual(log, [{ atMs: 1_250, kind: 'lost', silentMs: 1_000 }]);
  t.is(state.phase, 'lost');
  t.is(state.lostSinceMs, 1_250);
});

test('the deadline is exactly where the lost check fires', (t) => {
  const r = onLinkHello(newLinkLiveness(), 7_000);
  t.is(nextLivenessDeadlineMs(r.state, policy), 8_000);
  t.deepEqual(checkLinkLiveness(r.state, 7_999, policy).actions, []);
  t.deepEqual(checkLinkLiveness(r.state, 8_000, policy).actions, [{ kind: 'lost', silentMs: 1_000 }]);
});

test('hellos resume: restored with the outage length, alive again', (t) => {
  const { state, log } = run([{ atMs: 0, hello: true }, { atMs: 1_000 }, { atMs: 3_500, hello: true }, { atMs: 4_000 }]);
  t.deepEqual(log, [
    { atMs: 1_000, kind: 'lost', silentMs: 1_000 },
    { atMs: 3_500, kind: 'restored', lostForMs: 2_500 },
  ]);
  t.is(state.phase, 'alive');
  t.is(nextLivenessDeadlineMs(state, policy), 4_500);
});

test('a link that stays lost: our end restarted after 5 s, then every 30 s', (t) => {
  const steps = [{ atMs: 0, hello: true }];
  for (let ms = 250; ms <= 70_000; ms += 250) steps.push({ atMs: ms, hello: false });
  const { log } = run(steps);
  t.deepEqual(log, [
    { atMs: 1_000, kind: 'lost', silentMs: 1_000 },
    { atMs: 6_000, kind: 'restart', lostForMs: 5_000 },
    { atMs: 36_000, kind: 'restart', lostForMs: 35_000 },
    { atMs: 66_000, kind: 'restart', lostForMs: 65_000 },
  ]);
});

test('after a restore, a new loss counts its restarts afresh', (t) => {
  const { log } = run([
    { atMs: 0, hello: true },
    { atMs: 1_000 },
    { atMs: 6_000 },
    { atMs: 7_000, hello: true },
    { atMs: 8_000 },
    { atMs: 12_999 },
    { atMs: 13_000 },
  ]);
  t.deepEqual(log.map((a) => `${a.atMs} ${a.kind}`), ['1000 lost', '6000 restart', '7000 restored', '8000 lost', '13000 restart']);
});
