import test from 'ava';
import { ReplayWindow } from '../../../daemon/lan/replay-window.js';

const N = (i: number) => Buffer.from([0, 0, 0, 0, 0, 0, 0, i]);
const T0 = 1_000_000_000;

test('an announcement is fresh once; the same nonce again is replayed, from the same sender only', (t) => {
  const w = new ReplayWindow({ maxSkewMs: 60_000 });
  t.is(w.check('a', T0, N(1), T0), 'fresh');
  w.remember('a', T0, N(1), T0);
  t.is(w.check('a', T0, N(1), T0 + 1000), 'replayed');
  t.is(w.check('a', T0 + 5, N(2), T0 + 1000), 'fresh');
  t.is(w.check('b', T0, N(1), T0 + 1000), 'fresh');
});

test('checking alone remembers nothing (an unverified datagram leaves no trace)', (t) => {
  const w = new ReplayWindow({ maxSkewMs: 60_000 });
  t.is(w.check('a', T0, N(1), T0), 'fresh');
  t.is(w.check('a', T0, N(1), T0), 'fresh');
  t.is(w.senderCount(), 0);
});

test('timestamps beyond the skew either way are stale, at the edge still fresh', (t) => {
  const w = new ReplayWindow({ maxSkewMs: 60_000 });
  t.is(w.check('a', T0 - 60_001, N(1), T0), 'stale');
  t.is(w.check('a', T0 + 60_001, N(1), T0), 'stale');
  t.is(w.check('a', T0 - 60_000, N(1), T0), 'fresh');
  t.is(w.check('a', T0 + 60_000, N(1), T0), 'fresh');
  t.false(w.inWindow(Number.MAX_SAFE_INTEGER, T0));
});

test('past the per-sender cap the oldest is forgotten but stays refused through the floor', (t) => {
  const w = new ReplayWindow({ maxSkewMs: 600_000, perSender: 3 });
  for (let i = 1; i <= 4; i++) w.remember('a', T0 + i, N(i), T0 + 10);
  // N(1) at T0+1 was evicted: refused by the floor, not by memory.
  t.is(w.check('a', T0 + 1, N(1), T0 + 20), 'replayed');
  t.is(w.check('a', T0 + 1, N(9), T0 + 20), 'replayed');
  t.is(w.check('a', T0 + 4, N(4), T0 + 20), 'replayed');
  t.is(w.check('a', T0 + 5, N(5), T0 + 20), 'fresh');
});

test('senders whose announcements all left the window are forgotten (memory stays bounded)', (t) => {
  const w = new ReplayWindow({ maxSkewMs: 1_000 });
  w.remember('a', T0, N(1), T0);
  w.remember('b', T0 + 5_000, N(2), T0 + 5_000);
  t.is(w.senderCount(), 1);
  // Anything of a's old enough to be forgotten is stale anyway.
  t.is(w.check('a', T0, N(1), T0 + 5_000), 'stale');
});
