import test from 'ava';
import { DEST_SAMPLE_CADENCE, destSampleDue } from '../../../daemon/node/dest-sample.js';

const { quietIntervalMs: quiet, idleIntervalMs: idle, busyTunnelBytesPerSec: busy } = DEST_SAMPLE_CADENCE;
const traffic = (tunnels: number[], destinations: number[] = []) => ({ tunnels, destinations });

test('the first reading is always due (it is the baseline)', (t) => {
  t.true(destSampleDue(1_000, undefined, traffic([])));
});

test('idle tunnels and destinations: a reading only once per idle interval', (t) => {
  const upkeep = traffic([busy / 4, busy / 2], [busy / 2]);
  t.false(destSampleDue(10_000 + quiet, 10_000, upkeep));
  t.false(destSampleDue(10_000 + idle - 1, 10_000, upkeep));
  t.true(destSampleDue(10_000 + idle, 10_000, upkeep));
  t.false(destSampleDue(10_000 + 5_000, 10_000, traffic([])));
});

test('a destination the last reading saw busy is read again each quiet interval, so its rate decays', (t) => {
  const fading = traffic([busy / 2], [0, busy]);
  t.false(destSampleDue(10_000 + quiet - 1, 10_000, fading));
  t.true(destSampleDue(10_000 + quiet, 10_000, fading));
});

test('one busy tunnel makes every sample read the counters', (t) => {
  t.true(destSampleDue(15_000, 10_000, traffic([0, busy])));
  t.true(destSampleDue(10_001, 10_000, traffic([busy * 30])));
});

test('a custom cadence is honoured', (t) => {
  const cadence = { quietIntervalMs: 5_000, idleIntervalMs: 20_000, busyTunnelBytesPerSec: 100 };
  t.false(destSampleDue(15_000, 10_000, traffic([]), cadence));
  t.true(destSampleDue(15_000, 10_000, traffic([], [100]), cadence));
  t.true(destSampleDue(30_000, 10_000, traffic([]), cadence));
  t.false(destSampleDue(14_000, 10_000, traffic([99]), cadence));
  t.true(destSampleDue(14_000, 10_000, traffic([100]), cadence));
});
