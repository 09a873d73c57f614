import test from 'ava';
import { ConfigAssembler } from '../../../daemon/peerproto/reassembly.js';
import { ReplayGuard, type ReplayVerdict } from '../../../daemon/peerproto/replay.js';

const T0 = 1_700_000_000_000;

test('replay guard: stepped verdicts', (t) => {
  const g = new ReplayGuard({ windowMs: 1000, maxPerSender: 3, maxSenders: 2 });
  const steps: [string, number, number, number, ReplayVerdict][] = [
    // sender, timestamp, seq, now, verdict
    ['a', T0, 1, T0, 'fresh'],
    ['a', T0, 1, T0 + 10, 'replayed'],
    ['a', T0, 2, T0 + 10, 'fresh'], // same ms, next seq
    ['a', T0 - 5, 9, T0 + 10, 'fresh'], // reordered: older but unseen
    ['a', T0 + 20, 3, T0 + 20, 'flood'], // 3 pairs inside the window already
    ['a', T0 + 1500, 4, T0 + 1500, 'fresh'], // the old pairs fell out of the window
    ['a', T0 - 2000, 5, T0 + 1500, 'stale'],
    ['b', T0 + 1500, 1, T0 + 1500, 'fresh'],
    ['c', T0 + 1500, 1, T0 + 1500, 'fresh'], // a third sender: the least recent ('a') is forgotten
    ['a', T0 + 1500, 4, T0 + 1500, 'fresh'], // …so its pair is unknown again (still inside the window: bounded memory wins)
  ];
  for (const [sender, ts, seq, now, want] of steps) t.is(g.check(sender, ts, seq, now), want, `${sender} ${ts - T0}/${seq} at ${now - T0}`);
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
