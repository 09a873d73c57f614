// The manager's traffic-aware event lines on a fake clock: a refresh that opens
// a tunnel for steady traffic says how much and which tunnel carried it; a
// busiest tunnel a refresh passes over is announced once, not at every refresh.
import test from 'ava';
import { EventLog, formatRate } from '../../../daemon/events.js';
import { managerFixture, ifNameFor, peerPrefix } from './manager-fixture.js';

const X = peerPrefix(2);
const C = peerPrefix(3);

function setup() {
  let traffic = new Map<string, number>();
  let via = new Map<string, string>();
  const s = managerFixture({
    peers: [[X, '10.0.0.2:1194'], [C, '10.0.0.3:1194']],
    retryBaseMs: 1_000,
    planContext: () => ({ reachable: [X, C], destinationTraffic: traffic, destinationVia: via }),
    rand: () => 0.999999,
  });
  const set = (t: Map<string, number>, v: Map<string, string>): void => {
    traffic = t;
    via = v;
  };
  return { ...s, set };
}

const selection = (events: EventLog): string[] => events.list().filter((e) => e.kind === 'tunnel-selection').map((e) => e.text);

test('a refresh opens a tunnel for steady traffic with an event line; a busiest tunnel passed over is announced once', async (t) => {
  const s = setup();
  const signal = new AbortController().signal;
  t.true(await s.manager.open(X));
  s.up(X);
  await s.clock.advance(130_000); // older than the minimum age

  // X carries our 1.2 MB/s to C (and 300 B/s of its own).
  s.set(new Map([[C, 1_234_567]]), new Map([[C, X]]));
  s.manager.sampleTraffic(new Map([[ifNameFor(X), { rxBytes: 0, txBytes: 0 }]]), s.clock.nowMs());
  await s.clock.advance(5_000);
  s.manager.sampleTraffic(new Map([[ifNameFor(X), { rxBytes: 3_000_000, txBytes: 3_174_335 }]]), s.clock.nowMs());
  const plan = await s.manager.planRound(signal);
  t.deepEqual(plan.drain.map((a) => a.peer), [X]);
  t.deepEqual(plan.open.map((a) => a.peer), [C]);
  t.deepEqual(selection(s.events), [`tunnel to ${C} opened: carries 1.2 MB/s of our traffic to it (was via ${X})`]);
  await s.clock.advance(1_000); // the drain finds no routes left on X and closes it
  t.is(s.manager.get(X), undefined);

  // C now carries the flow itself. Two refreshes later (C is young at the first): kept, once.
  s.up(C);
  s.set(new Map([[C, 1_234_567]]), new Map([[C, C]]));
  s.manager.sampleTraffic(new Map([[ifNameFor(C), { rxBytes: 0, txBytes: 0 }]]), s.clock.nowMs());
  await s.clock.advance(5_000);
  s.manager.sampleTraffic(new Map([[ifNameFor(C), { rxBytes: 3_000_000, txBytes: 3_174_335 }]]), s.clock.nowMs());
  await s.clock.advance(300_000);
  for (let i = 0; i < 3; i++) {
    const p = await s.manager.planRound(signal);
    t.deepEqual([p.open, p.drain], [[], []], `round ${i}: ${p.reasons.join(' | ')}`);
    t.deepEqual(p.kept.map((k) => k.peer), [C]);
    await s.clock.advance(300_000);
  }
  const texts = selection(s.events);
  t.is(texts.length, 2, JSON.stringify(texts));
  t.regex(texts[1]!, new RegExp(`^tunnel with ${C.replace(/[.:/]/g, '\\$&')} kept: busiest \\(1\\.2 MB/s; a refresh passed it over at score 3\\.09\\)$`));
});

test('rates in event lines', (t) => {
  t.deepEqual([0, -3, 850.4, 1_000, 12_345, 99_949, 123_456, 1_234_567, 2.5e9].map(formatRate), ['0 B/s', '0 B/s', '850 B/s', '1.0 kB/s', '12.3 kB/s', '99.9 kB/s', '123 kB/s', '1.2 MB/s', '2.5 GB/s']);
});
