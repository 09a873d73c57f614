import test, { type ExecutionContext } from 'ava';
import { ConfigAssembler } from '../../../daemon/peerproto/reassembly.js';
import { ReplayGuard, type ReplayVerdict } from '../../../daemon/peerproto/replay.js';

const T0 = 1_700_000_000_000;

type Step = [sender: string, timestamp: number, seq: number, now: number, verdict: ReplayVerdict];

function run(t: ExecutionContext, g: ReplayGuard, steps: Step[]): void {
  for (const [sender, ts, seq, now, want] of steps) t.is(g.check(sender, ts, seq, now), want, `${sender} ${ts - T0}/${seq} at ${now - T0}`);
}

test('replay window: duplicates, reordering, old, far ahead', (t) => {
  const g = new ReplayGuard({ windowMs: 1000, seqWindow: 64, maxSenders: 4 });
  run(t, g, [
    ['a', T0, 10, T0, 'fresh'],
    ['a', T0, 10, T0 + 10, 'replayed'], // duplicate
    ['a', T0, 11, T0 + 10, 'fresh'], // same ms, next seq
    ['a', T0, 8, T0 + 10, 'fresh'], // reordered: lower but unseen
    ['a', T0, 8, T0 + 10, 'replayed'],
    ['a', T0 + 5, 74, T0 + 10, 'fresh'], // ahead by 63: 11 is the lowest still in the window…
    ['a', T0, 11, T0 + 10, 'replayed'],
    ['a', T0, 10, T0 + 10, 'behind'], // …and 10 has fallen out of it
    ['a', T0, 9, T0 + 10, 'behind'], // unseen, but too far behind to tell
    ['a', T0 + 6, 1_000_000, T0 + 10, 'fresh'], // far ahead: the whole window moves
    ['a', T0 + 5, 74, T0 + 10, 'behind'],
    ['a', T0 + 6, 999_999, T0 + 10, 'fresh'], // just below the new top, unseen
    ['a', T0 + 6, 1_000_000, T0 + 10, 'replayed'],
    ['a', T0 - 2000, 1_000_001, T0 + 10, 'stale'], // outside the clock window
    ['a', T0 + 3000, 1_000_001, T0 + 10, 'stale'],
    ['b', T0, 10, T0 + 10, 'fresh'], // senders have windows of their own
  ]);
});

test('replay window: skipped numbers stay acceptable, passed-over ones are cleared', (t) => {
  const g = new ReplayGuard({ windowMs: 1000, seqWindow: 64, maxSenders: 4 });
  // Every seq from 0 to 200 except the multiples of 7, in order: then the multiples of 7 late.
  for (let s = 0; s <= 200; s++) if (s % 7 !== 0) t.is(g.check('a', T0, s, T0), 'fresh');
  for (let s = 0; s <= 200; s++) {
    if (s % 7 !== 0) continue;
    t.is(g.check('a', T0, s, T0), 200 - s >= 64 ? 'behind' : 'fresh', `late ${s}`);
  }
  // Each seq of the window was accepted exactly once: all are replays now, and seen() agrees.
  for (let s = 137; s <= 200; s++) {
    t.true(g.seen('a', T0, s), `seen ${s}`);
    t.is(g.check('a', T0, s, T0), 'replayed');
  }
  t.false(g.seen('a', T0, 201));
  t.false(g.seen('b', T0, 1));
});

test('replay window: a restarted sender (seq from 1, later clock) starts a new run; the old run is refused', (t) => {
  const g = new ReplayGuard({ windowMs: 10_000, seqWindow: 64, maxSenders: 4 });
  run(t, g, [
    ['a', T0, 500, T0, 'fresh'],
    ['a', T0 + 100, 501, T0 + 100, 'fresh'],
    ['a', T0 + 2000, 1, T0 + 2000, 'fresh'], // restarted: low seq, newer than anything accepted
    ['a', T0 + 2000, 1, T0 + 2000, 'replayed'],
    ['a', T0 + 2001, 2, T0 + 2001, 'fresh'],
    ['a', T0 + 100, 501, T0 + 2001, 'earlier-run'], // a copy from before the restart
    ['a', T0 + 50, 600, T0 + 2001, 'earlier-run'], // even one never seen, with a higher seq
    ['a', T0 + 2000, 0, T0 + 2002, 'fresh'], // the new run's own reordering still works
  ]);
});

test('replay window: seq wrapping past 2^32 - 1 to 0 is a new run', (t) => {
  const g = new ReplayGuard({ windowMs: 10_000, seqWindow: 64, maxSenders: 4 });
  run(t, g, [
    ['a', T0, 0xfffffffe, T0, 'fresh'],
    ['a', T0 + 1, 0xffffffff, T0 + 1, 'fresh'],
    ['a', T0 + 2, 0, T0 + 2, 'fresh'],
    ['a', T0 + 3, 1, T0 + 3, 'fresh'],
    ['a', T0 + 1, 0xffffffff, T0 + 3, 'earlier-run'],
    ['a', T0 + 2, 0, T0 + 3, 'replayed'],
  ]);
});

test('replay window: bounded senders, the least recently seen is forgotten first', (t) => {
  const g = new ReplayGuard({ windowMs: 1000, seqWindow: 32, maxSenders: 2 });
  run(t, g, [
    ['a', T0, 1, T0, 'fresh'],
    ['b', T0, 1, T0, 'fresh'],
    ['a', T0, 2, T0, 'fresh'], // a is now the most recent
    ['c', T0, 1, T0, 'fresh'], // forgets b
    ['a', T0, 1, T0, 'replayed'], // a is the most recent again: c the least
    ['b', T0, 1, T0, 'fresh'], // unknown again (inside the clock window: bounded memory wins); forgets c
    ['a', T0, 2, T0, 'replayed'],
    ['c', T0, 1, T0, 'fresh'],
  ]);
  t.throws(() => new ReplayGuard({ windowMs: 1000, seqWindow: 48, maxSenders: 2 }), { message: /multiple of 32/ });
});

test('config assembler: out of order, duplicates, expiry, re-chunking', (t) => {
  const a = new ConfigAssembler({ timeoutMs: 1000, maxAssemblies: 2 });
  const chunk = (index: number, count: number, text: string, version = 1) => ({ kind: 'config-chunk' as const, version, index, count, bytes: Buffer.from(text) });
  t.is(a.add('p', chunk(2, 3, 'c'), T0), undefined);
  t.is(a.add('p', chunk(0, 3, 'a'), T0), undefined);
  t.is(a.add('p', chunk(0, 3, 'a'), T0), undefined);
  t.deepEqual(a.add('p', chunk(1, 3, 'b'), T0), { version: 1, bytes: Buffer.from('abc') });
  t.is(a.pending(), 0);
  t.is(a.add('p', chunk(0, 2, 'x'), T0), undefined);
  t.is(a.add('p', chunk(1, 2, 'y'), T0 + 2000), undefined, 'the first half expired');
  t.is(a.add('p', chunk(0, 3, 'q'), T0 + 2000), undefined, 'count changed: start over');
  t.is(a.add('q', chunk(0, 2, 'x', 2), T0 + 2000), undefined);
  t.is(a.add('r', chunk(0, 2, 'x', 2), T0 + 2000), undefined);
  t.is(a.pending(), 2, 'bounded');
});
