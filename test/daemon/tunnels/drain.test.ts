// stepDrain on a simulated clock: each row is a moment, what the manager
// observes then (changes carry over to later rows), and the phase and actions
// expected from that step.
import test from 'ava';
import {
  drainAnnounced,
  drainOver,
  drainPauseMs,
  followDrain,
  startDrain,
  stepDrain,
  type DrainAction,
  type DrainObservations,
  type DrainPhase,
  type DrainState,
  type DrainTiming,
} from '../../../daemon/tunnels/drain.js';

const TIMING: DrainTiming = { timeoutMs: 10_000, ackTimeoutMs: 3_000, settleMs: 2_000, objectionMs: 500 };
const REASON = 'refresh: replaced by a better tunnel';

interface Row {
  atMs: number;
  obs?: Partial<DrainObservations>;
  phase: DrainPhase;
  actions?: string[];
}

function actionText(a: DrainAction): string {
  switch (a.kind) {
    case 'announce':
      return `announce ${a.closeInMs}`;
    case 'send':
      return `send ${a.phase}`;
    case 'keep':
      return `keep: ${a.why}`;
    case 'close':
      return `close: ${a.reason}`;
    default:
      return a.kind;
  }
}

function run(t: import('ava').ExecutionContext, start: DrainState, rows: Row[]): DrainState {
  let s = start;
  let obs: DrainObservations = { uncovered: 0, routeCount: 3, routedAround: true, ackAtMs: null, cancelled: false, linkDown: false };
  for (const row of rows) {
    obs = { ...obs, ...row.obs };
    const step = stepDrain(s, obs, row.atMs);
    t.is(step.state.phase, row.phase, `phase at t=${row.atMs} ms`);
    t.deepEqual(step.actions.map(actionText), row.actions ?? [], `actions at t=${row.atMs} ms`);
    s = step.state;
  }
  return s;
}

test('ours: wait for other routes, detour, announce, raise, ack, settle, routed around, close', (t) => {
  const end = run(t, startDrain(REASON, TIMING, true, 0), [
    { atMs: 0, obs: { uncovered: 2 }, phase: 'wait-routes' },
    { atMs: 250, phase: 'wait-routes' },
    { atMs: 1_000, obs: { uncovered: 0 }, phase: 'announce', actions: ['cover'] },
    { atMs: 1_100, phase: 'wait-objection', actions: ['announce 10000'] },
    { atMs: 1_550, phase: 'wait-objection' },
    { atMs: 1_600, phase: 'raised', actions: ['raise-cost'] },
    // The clocks start once the cost is up: babel until 11.7 s, the ack until 4.7 s.
    { atMs: 1_700, phase: 'wait-ack' },
    { atMs: 2_500, obs: { ackAtMs: 2_400 }, phase: 'settle' },
    { atMs: 4_399, phase: 'settle' },
    { atMs: 4_400, obs: { routeCount: 1 }, phase: 'wait-around' },
    { atMs: 4_650, obs: { routeCount: 0, routedAround: false }, phase: 'wait-around' },
    { atMs: 5_000, obs: { routedAround: true }, phase: 'closed', actions: [`close: ${REASON}`] },
  ]);
  t.true(drainOver(end));
});

test('ours: other routes that never come are waited for at most half the drain time', (t) => {
  run(t, startDrain(REASON, TIMING, true, 0), [
    { atMs: 0, obs: { uncovered: 1 }, phase: 'wait-routes' },
    { atMs: 4_999, phase: 'wait-routes' },
    { atMs: 5_000, phase: 'announce', actions: ['cover'] },
  ]);
});

test('ours without detours: announce at once', (t) => {
  run(t, startDrain(REASON, TIMING, false, 0), [{ atMs: 0, obs: { uncovered: 5 }, phase: 'wait-objection', actions: ['announce 10000'] }]);
});

test('ours: the peer refuses in time — nothing changed, the tunnel stays', (t) => {
  const s = startDrain(REASON, TIMING, true, 0);
  run(t, s, [
    { atMs: 0, phase: 'announce', actions: ['cover'] },
    { atMs: 10, phase: 'wait-objection', actions: ['announce 10000'] },
    { atMs: 60, phase: 'wait-objection' },
    { atMs: 110, obs: { cancelled: true }, phase: 'kept', actions: ['keep: the peer refused', 'release-detours'] },
  ]);
  t.is(drainPauseMs({ ...s, phase: 'wait-objection' }), 50);
  t.is(drainPauseMs({ ...s, phase: 'wait-ack' }), 250);
});

const GIVE_UP = (why: string) => [`keep: ${why}`, 'send cancel', 'restore-cost', 'release-detours'];

test('ours: a refusal after the cost went up gives the drain up and restores the cost', (t) => {
  run(t, startDrain(REASON, TIMING, false, 0), [
    { atMs: 0, phase: 'wait-objection', actions: ['announce 10000'] },
    { atMs: 500, phase: 'raised', actions: ['raise-cost'] },
    { atMs: 600, phase: 'wait-ack' },
    { atMs: 900, obs: { cancelled: true }, phase: 'kept', actions: GIVE_UP('the peer refused late') },
  ]);
});

test('ours: a refusal while settling or waiting for babel gives the drain up too', (t) => {
  const raised: DrainState = { ...startDrain(REASON, TIMING, false, 0), phase: 'raised' };
  run(t, raised, [
    { atMs: 0, obs: { ackAtMs: 0 }, phase: 'settle' },
    { atMs: 100, obs: { cancelled: true }, phase: 'kept', actions: GIVE_UP('the peer refused late') },
  ]);
  run(t, raised, [
    { atMs: 0, obs: { ackAtMs: 0 }, phase: 'settle' },
    { atMs: 2_000, phase: 'wait-around' },
    { atMs: 2_250, obs: { cancelled: true }, phase: 'kept', actions: GIVE_UP('the peer refused late') },
  ]);
});

test('ours: no ack — babel is watched after the ack time-out; routes still there at the deadline do not keep the tunnel', (t) => {
  run(t, { ...startDrain(REASON, TIMING, false, 0), phase: 'raised' }, [
    { atMs: 0, phase: 'wait-ack' },
    { atMs: 2_999, phase: 'wait-ack' },
    { atMs: 3_000, phase: 'wait-around' },
    { atMs: 9_999, phase: 'wait-around' },
    { atMs: 10_000, phase: 'closed', actions: [`close: ${REASON}`] },
  ]);
});

test('ours: babel never reaches the peer another way — given up at the deadline', (t) => {
  run(t, { ...startDrain(REASON, TIMING, false, 0), phase: 'raised' }, [
    { atMs: 0, obs: { routeCount: 0, routedAround: false }, phase: 'wait-ack' },
    { atMs: 3_000, phase: 'wait-around' },
    { atMs: 10_000, phase: 'kept', actions: GIVE_UP('babel has no other route to the peer') },
  ]);
});

test('ours: an ack time-out of 0 watches babel as soon as the cost is up; a late ack is not waited for', (t) => {
  run(t, { ...startDrain(REASON, { ...TIMING, ackTimeoutMs: 0 }, false, 0), phase: 'raised' }, [
    { atMs: 0, phase: 'wait-around' },
    { atMs: 250, obs: { ackAtMs: 250, routeCount: 0 }, phase: 'closed', actions: [`close: ${REASON}`] },
  ]);
});

test('ours: the settle time never runs past the deadline', (t) => {
  run(t, { ...startDrain(REASON, { ...TIMING, settleMs: 60_000, ackTimeoutMs: 60_000 }, false, 0), phase: 'raised' }, [
    { atMs: 0, phase: 'wait-ack' },
    { atMs: 9_000, obs: { ackAtMs: 9_000 }, phase: 'settle' },
    { atMs: 10_000, obs: { routeCount: 0 }, phase: 'closed', actions: [`close: ${REASON}`] },
  ]);
});

test("the peer's drain: detour, wait until babel moved our routes, raise, ack, close after the announced time", (t) => {
  run(t, followDrain(10_000, true, 0), [
    { atMs: 0, obs: { routeCount: 2 }, phase: 'detoured', actions: ['cover'] },
    // Babel has up to half the announced time (here 5 s) to move our routes.
    { atMs: 50, phase: 'wait-moved' },
    { atMs: 2_000, phase: 'wait-moved' },
    { atMs: 3_000, obs: { routeCount: 0 }, phase: 'follower-raised', actions: ['raise-cost'] },
    { atMs: 3_100, phase: 'wait-close', actions: ['send ack'] },
    { atMs: 14_999, phase: 'wait-close' },
    { atMs: 15_000, phase: 'closed', actions: ['close: drained by the peer'] },
  ]);
});

test("the peer's drain: once acked, our end closes as soon as the peer's end is gone (not only at the announced time)", (t) => {
  run(t, followDrain(20_000, false, 0), [
    { atMs: 0, obs: { routeCount: 0 }, phase: 'follower-raised', actions: ['raise-cost'] },
    { atMs: 10, phase: 'wait-close', actions: ['send ack'] },
    { atMs: 2_000, phase: 'wait-close' },
    { atMs: 2_250, obs: { linkDown: true }, phase: 'closed', actions: ['close: drained by the peer'] },
  ]);
});

test("the peer's drain: routes that do not move are withdrawn after half the announced time", (t) => {
  run(t, followDrain(4_000, false, 0), [
    { atMs: 0, obs: { routeCount: 2 }, phase: 'wait-moved' },
    { atMs: 1_999, phase: 'wait-moved' },
    { atMs: 2_000, phase: 'follower-raised', actions: ['raise-cost'] },
  ]);
});

test("the peer's drain given up: our cost restored, detours released, the tunnel kept", (t) => {
  run(t, followDrain(10_000, true, 0), [
    { atMs: 0, phase: 'detoured', actions: ['cover'] },
    { atMs: 100, phase: 'wait-moved' },
    { atMs: 350, obs: { cancelled: true }, phase: 'kept', actions: ['keep: the peer gave its drain up', 'restore-cost', 'release-detours'] },
  ]);
  run(t, followDrain(10_000, false, 0), [
    { atMs: 0, obs: { routeCount: 0 }, phase: 'follower-raised', actions: ['raise-cost'] },
    { atMs: 10, phase: 'wait-close', actions: ['send ack'] },
    { atMs: 500, obs: { cancelled: true }, phase: 'kept', actions: ['keep: the peer gave its drain up', 'restore-cost', 'release-detours'] },
  ]);
});

test("the peer's drain: our end closes at the latest 5 s after the announced time (at most 2 min), whatever the phase", (t) => {
  run(t, followDrain(10 * 60_000, false, 0), [
    { atMs: 0, phase: 'wait-moved' },
    { atMs: 124_999, phase: 'follower-raised', actions: ['raise-cost'] },
    { atMs: 125_000, phase: 'closed', actions: ['close: drained by the peer'] },
  ]);
  run(t, followDrain(-5, false, 0), [{ atMs: 5_000, phase: 'closed', actions: ['close: drained by the peer'] }]);
});

test("the peer's ack or cancel counts only once it knows of the drain", (t) => {
  const ours = startDrain(REASON, TIMING, true, 0);
  t.false(drainAnnounced(ours), 'still waiting for other routes');
  t.false(drainAnnounced({ ...ours, phase: 'announce' }), 'detoured, not announced yet');
  t.true(drainAnnounced({ ...ours, phase: 'wait-objection' }));
  t.true(drainAnnounced(followDrain(10_000, true, 0)));
});
