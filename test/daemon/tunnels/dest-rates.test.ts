// Per-destination rates on a simulated clock: each step is a reading of the
// per-address counters; the expected rates follow the EWMA by hand.
import test from 'ava';
import { destinationTrafficMap, destinationViews, routeCarriers, updateDestinationRates, type DestinationRateState } from '../../../daemon/tunnels/dest-rates.js';
import type { BabelRoute } from '../../../daemon/babel/parse.js';

const B = 'fd5e:1:0:2::/64';
const C = 'fd5e:1:0:3::/64';
const WIDE = 'fd5e:1::/56'; // holds B and C too: the longer prefix wins
const TAU = 10_000;
const w = (dtMs: number): number => 1 - Math.exp(-dtMs / TAU);

type Reading = Record<string, [rx: number, tx: number]>;
const counters = (r: Reading) => new Map(Object.entries(r).map(([a, [rx, tx]]) => [a, { rxBytes: rx, txBytes: tx }]));

test('stepped: baseline, ramp from zero, per-address growth, expiry and re-creation, decay and forgetting', (t) => {
  const prefixes = [WIDE, B, C];
  const steps: Array<{ atMs: number; reading: Reading; expect: Record<string, [rx: number, tx: number]>; prefixes?: string[] }> = [
    { atMs: 0, reading: { 'fd5e:1:0:3::1': [1000, 1000] }, expect: {} }, // baseline only
    // 5 s later: C sent 50 kB/s and received 40 kB/s; the EWMA starts at 0 and rises by w(5 s).
    { atMs: 5_000, reading: { 'fd5e:1:0:3::1': [201_000, 251_000] }, expect: { [C]: [w(5_000) * 40_000, w(5_000) * 50_000] } },
    // A new address of C (new element: its whole counter is new), one of B, one only in WIDE, one outside all.
    {
      atMs: 10_000,
      reading: { 'fd5e:1:0:3::1': [401_000, 501_000], 'fd5e:1:0:3::2': [0, 50_000], 'fd5e:1:0:2::1': [10_000, 0], 'fd5e:1:0:ff::1': [5_000, 0], 'fd99::1': [1e9, 1e9] },
      expect: {
        [C]: [w(5_000) * 40_000 + w(5_000) * (40_000 - w(5_000) * 40_000), w(5_000) * 50_000 + w(5_000) * (60_000 - w(5_000) * 50_000)],
        [B]: [w(5_000) * 2_000, 0],
        [WIDE]: [w(5_000) * 1_000, 0],
      },
    },
  ];
  let state: DestinationRateState | undefined;
  for (const step of steps) {
    state = updateDestinationRates(state, counters(step.reading), step.prefixes ?? prefixes, step.atMs, TAU);
    const got = Object.fromEntries([...state.rates].map(([p, r]) => [p, [r.rxBytesPerSec, r.txBytesPerSec]]));
    t.deepEqual(Object.keys(got).sort(), Object.keys(step.expect).sort(), `prefixes at ${step.atMs}`);
    for (const [p, [rx, tx]] of Object.entries(step.expect)) {
      t.true(Math.abs(got[p]![0]! - rx) < 1e-6 && Math.abs(got[p]![1]! - tx) < 1e-6, `${p} at ${step.atMs}: ${got[p]} vs ${[rx, tx]}`);
      t.is(state.rates.get(p)!.bytesPerSec, state.rates.get(p)!.rxBytesPerSec + state.rates.get(p)!.txBytesPerSec);
    }
  }
  const at10 = state!.rates.get(C)!;

  // C's first address expired and came back with a small counter: that counter is new bytes,
  // not a negative step. The rate falls towards 2 kB/s + 0.
  state = updateDestinationRates(state, counters({ 'fd5e:1:0:3::1': [10_000, 0], 'fd5e:1:0:3::2': [0, 50_000] }), prefixes, 15_000, TAU);
  t.true(Math.abs(state.rates.get(C)!.rxBytesPerSec - (at10.rxBytesPerSec + w(5_000) * (2_000 - at10.rxBytesPerSec))) < 1e-6);
  t.true(Math.abs(state.rates.get(C)!.txBytesPerSec - (at10.txBytesPerSec + w(5_000) * (0 - at10.txBytesPerSec))) < 1e-6);

  // A reading not newer than the last changes nothing.
  t.is(updateDestinationRates(state, counters({}), prefixes, 15_000, TAU), state);

  // Silence: the rates decay and, once below 1 B/s, the prefixes are forgotten.
  let quiet = state;
  for (let atMs = 20_000; atMs <= 400_000; atMs += 5_000) quiet = updateDestinationRates(quiet, counters({ 'fd5e:1:0:3::1': [10_000, 0], 'fd5e:1:0:3::2': [0, 50_000] }), prefixes, atMs, TAU);
  t.is(quiet.rates.size, 0);

  // A prefix that is no longer a peer drops out at once.
  t.false(updateDestinationRates(state, counters({}), [B], 20_000, TAU).rates.has(C));
});

test('a steady flow converges to its rate', (t) => {
  let state: DestinationRateState | undefined;
  let bytes = 0;
  for (let atMs = 0; atMs <= 120_000; atMs += 5_000) {
    state = updateDestinationRates(state, counters({ 'fd5e:1:0:3::1': [bytes, bytes] }), [C], atMs, TAU);
    bytes += 60_000 * 5; // 60 kB/s each way
  }
  t.true(Math.abs(state!.rates.get(C)!.bytesPerSec - 120_000) < 100);
  t.deepEqual([...destinationTrafficMap(state!.rates)].map(([p, v]) => [p, Math.round(v / 1000)]), [[C, 120]]);
});

test('routeCarriers maps destinations to the tunnel that carries our installed route; views list busiest first', (t) => {
  const route = (prefix: string, ifName: string, extra: Partial<BabelRoute> = {}): [string, BabelRoute] => [
    `${prefix}-${ifName}`,
    { id: `${prefix}-${ifName}`, prefix, from: '::/0', installed: true, routerId: 'x', metric: 256, refmetric: 0, via: 'fe80::1', ifName, ...extra },
  ];
  const routes = new Map([
    route(C, 'rnB'),
    route(C, 'rnD', { installed: false }),
    route(B, 'rnB'),
    route('fd5e:1:0:4::/64', 'eth0'), // not a tunnel
    route('fd5e:1:0:5::/64', 'rnB', { metric: 65535 }),
  ]);
  const via = routeCarriers(routes, [{ peer: B, ifName: 'rnB' }, { peer: 'fd5e:1:0:4::/64', ifName: 'rnD' }]);
  t.deepEqual(Object.fromEntries(via), { [C]: B, [B]: B });
  const views = destinationViews(
    new Map([
      [B, { rxBytesPerSec: 10.4, txBytesPerSec: 0, bytesPerSec: 10.4 }],
      [C, { rxBytesPerSec: 50_000.6, txBytesPerSec: 60_000, bytesPerSec: 110_000.6 }],
      ['fd5e:1:0:6::/64', { rxBytesPerSec: 5, txBytesPerSec: 0, bytesPerSec: 5 }],
    ]),
    via,
  );
  t.deepEqual(views, [
    { prefix: C, rxBytesPerSec: 50_001, txBytesPerSec: 60_000, via: B },
    { prefix: B, rxBytesPerSec: 10, txBytesPerSec: 0, via: B },
    { prefix: 'fd5e:1:0:6::/64', rxBytesPerSec: 5, txBytesPerSec: 0, via: null },
  ]);
});
