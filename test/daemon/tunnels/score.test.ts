import test from 'ava';
import { tunnelScore, updateTrafficByInterface, updateTrafficEwma, type TrafficEwma } from '../../../daemon/tunnels/score.js';

const T0 = 1_700_000_000_000;

test('stepped EWMA: baseline, first rate, smoothing, counter reset, stale sample', (t) => {
  const tau = 10_000;
  const steps: { atMs: number; rx: number; tx: number; want: number; samples: number }[] = [
    { atMs: T0, rx: 0, tx: 0, want: 0, samples: 0 }, // baseline only
    { atMs: T0 + 1000, rx: 6000, tx: 4000, want: 10_000, samples: 1 }, // first rate taken as is
    { atMs: T0 + 11_000, rx: 6000, tx: 4000, want: 10_000 * Math.exp(-1), samples: 2 }, // idle for one τ: 63 % of the way to 0
    { atMs: T0 + 12_000, rx: 100, tx: 100, want: 10_000 * Math.exp(-1), samples: 2 }, // counters went backwards: new baseline
    { atMs: T0 + 12_000, rx: 900, tx: 900, want: 10_000 * Math.exp(-1), samples: 2 }, // same timestamp: ignored
  ];
  let ewma: TrafficEwma | undefined;
  for (const s of steps) {
    ewma = updateTrafficEwma(ewma, { atMs: s.atMs, rxBytes: s.rx, txBytes: s.tx }, tau);
    t.true(Math.abs(ewma.bytesPerSec - s.want) < 1e-6, `at +${s.atMs - T0}: ${ewma.bytesPerSec} != ${s.want}`);
    t.is(ewma.samples, s.samples);
  }
  t.deepEqual(ewma!.last, { atMs: T0 + 12_000, rxBytes: 100, txBytes: 100 });
});

test('irregular sampling converges to the same steady rate', (t) => {
  let a: TrafficEwma | undefined;
  let b: TrafficEwma | undefined;
  let bytes = 0;
  for (let s = 0; s <= 600; s++) {
    a = updateTrafficEwma(a, { atMs: T0 + s * 1000, rxBytes: s * 5000, txBytes: 0 });
    if (s % 7 === 0 || s % 11 === 0) b = updateTrafficEwma(b, { atMs: T0 + s * 1000, rxBytes: s * 5000, txBytes: 0 });
    bytes = s * 5000;
  }
  t.true(bytes > 0);
  t.true(Math.abs(a!.bytesPerSec - 5000) < 1);
  t.true(Math.abs(b!.bytesPerSec - 5000) < 1);
});

test('per-interface round: gone interfaces drop out, new ones start a baseline', (t) => {
  const round1 = updateTrafficByInterface(new Map(), new Map([['rn1', { rxBytes: 0, txBytes: 0 }], ['rn2', { rxBytes: 0, txBytes: 0 }]]), ['rn1', 'rn2'], T0);
  const round2 = updateTrafficByInterface(
    round1,
    new Map([['rn1', { rxBytes: 2000, txBytes: 0 }], ['rn3', { rxBytes: 50, txBytes: 0 }]]),
    ['rn1', 'rn2', 'rn3'],
    T0 + 1000,
  );
  t.deepEqual([...round2.keys()], ['rn1', 'rn3']);
  t.is(round2.get('rn1')!.bytesPerSec, 2000);
  t.is(round2.get('rn3')!.samples, 0);
});

test('score: routes dominate, traffic adds on a log scale', (t) => {
  t.is(tunnelScore({ routeCount: 0, bytesPerSec: 0 }), 0);
  t.is(tunnelScore({ routeCount: 3, bytesPerSec: 0 }), 3);
  t.true(Math.abs(tunnelScore({ routeCount: 0, bytesPerSec: 999_000 }) - 3) < 1e-9);
  t.true(tunnelScore({ routeCount: 2, bytesPerSec: 10 }) < tunnelScore({ routeCount: 3, bytesPerSec: 0 }));
  t.true(tunnelScore({ routeCount: 2, bytesPerSec: 50_000 }) > tunnelScore({ routeCount: 3, bytesPerSec: 0 }));
});
