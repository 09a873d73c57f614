import test from 'ava';
import { SourceRation, TokenBuckets } from '../../../daemon/peerproto/token-buckets.js';

test('a bucket gives its burst, then refills at its rate, never above the burst', (t) => {
  const b = new TokenBuckets({ ratePerSec: 2, burst: 3, maxKeys: 10 });
  t.deepEqual([1, 2, 3, 4].map(() => b.take('x', 0)), [true, true, true, false]);
  t.false(b.has('x', 499));
  t.true(b.take('x', 500)); // 0.5 s at 2/s: one token
  t.false(b.take('x', 500));
  t.deepEqual([1, 2, 3, 4].map(() => b.take('x', 60_000)), [true, true, true, false]);
  t.true(b.take('y', 0), 'another key has its own bucket');
});

test('the map of buckets is bounded: the key used longest ago is forgotten', (t) => {
  const b = new TokenBuckets({ ratePerSec: 0, burst: 1, maxKeys: 2 });
  t.true(b.take('a', 0));
  t.true(b.take('b', 0));
  t.false(b.has('a', 0)); // touches a: b is now the oldest
  t.true(b.take('c', 0));
  t.is(b.size, 2);
  t.false(b.has('a', 0), 'a kept its empty bucket');
  t.true(b.has('b', 0), 'b was forgotten and comes back full');
});

test('a ration refuses the N+1th check from one source, and from all sources past the shared budget unless trusted', (t) => {
  const r = new SourceRation({ perSourcePerSec: 0, perSourceBurst: 3, totalPerSec: 0, totalBurst: 5 });
  t.deepEqual([1, 2, 3, 4].map(() => r.take('10.0.0.1', 0)), [true, true, true, false]);
  t.true(r.take('10.0.0.2', 0));
  t.true(r.take('10.0.0.3', 0));
  t.false(r.take('10.0.0.4', 0), 'the shared budget (5) is spent');
  t.true(r.take('10.0.0.4', 0, true), 'a trusted source needs only its own');
  r.charge('10.0.0.5', 0);
  t.true(r.has('10.0.0.5', 0, true));
});
