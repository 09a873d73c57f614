import test from 'ava';
import { DEST_SAMPLE_CADENCE, destSampleDue } from '../../../daemon/node/dest-sample.js';

const quiet = DEST_SAMPLE_CADENCE.quietIntervalMs;
const busy = DEST_SAMPLE_CADENCE.busyTunnelBytesPerSec;

test('the first reading is always due (it is the baseline)', (t) => {
  t.true(destSampleDue(1_000, undefined, []));
});

test('idle tunnels: a reading only once per quiet interval', (t) => {
  const idle = [busy / 4, busy / 2];
  t.false(destSampleDue(10_000 + quiet - 1, 10_000, idle));
  t.true(destSampleDue(10_000 + quiet, 10_000, idle));
  t.false(destSampleDue(10_000 + 5_000, 10_000, []));
});

test('one busy tunnel makes every sample read the counters', (t) => {
  t.true(destSampleDue(15_000, 10_000, [0, busy]));
  t.true(destSampleDue(10_001, 10_000, [busy * 30]));
});

test('a custom cadence is honoured', (t) => {
  const cadence = { quietIntervalMs: 5_000, busyTunnelBytesPerSec: 100 };
  t.true(destSampleDue(15_000, 10_000, [], cadence));
  t.false(destSampleDue(14_000, 10_000, [99], cadence));
  t.true(destSampleDue(14_000, 10_000, [100], cadence));
});
