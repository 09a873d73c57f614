import test from 'ava';
import { CpuPressure, parseCpuPressure } from '../../../daemon/sys/cpu-pressure.js';
import { livenessPolicy, pressuredLateMs } from '../../../daemon/tunnels/liveness.js';

const SAMPLE = 'some avg10=87.50 avg60=80.12 avg300=40.00 total=33827507025\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n';

test('parses "some avg10" from /proc/pressure/cpu; anything else is no reading', (t) => {
  t.is(parseCpuPressure(SAMPLE), 87.5);
  t.is(parseCpuPressure('some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n'), 0);
  t.is(parseCpuPressure(''), undefined);
  t.is(parseCpuPressure('full avg10=12.00 avg60=0.00 avg300=0.00 total=0\n'), undefined);
  t.is(parseCpuPressure('some avg10=250.00 avg60=0.00 avg300=0.00 total=0\n'), undefined);
  t.is(parseCpuPressure('some avg10=x avg60=0.00\n'), undefined);
});

test('reads at most once a second; a kernel without PSI counts as no pressure, and is not read again', (t) => {
  const clock = { nowMsValue: 0, nowMs() { return this.nowMsValue; } };
  let reads = 0;
  const p = new CpuPressure({ clock, read: () => (reads++, SAMPLE) });
  t.is(p.someAvg10Pct(), 87.5);
  t.is(p.someAvg10Pct(), 87.5);
  t.is(reads, 1);
  clock.nowMsValue = 1_000;
  p.someAvg10Pct();
  t.is(reads, 2);
  let tries = 0;
  const none = new CpuPressure({ clock, read: () => { tries++; throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' }); } });
  t.is(none.someAvg10Pct(), 0);
  clock.nowMsValue = 5_000;
  t.is(none.someAvg10Pct(), 0);
  t.is(tries, 1);
});

test('up to 75 % pressure the timer lateness counts as is; above, at least what the pressure stands for (4 s at 100 %, half the widening cap)', (t) => {
  const policy = livenessPolicy(0.25, 4);
  t.is(pressuredLateMs(1_000, 0, policy), 1_000);
  t.is(pressuredLateMs(0, 75, policy), 0);
  t.is(pressuredLateMs(0, 87.5, policy), 2_000);
  t.is(pressuredLateMs(0, 100, policy), 4_000);
  t.is(pressuredLateMs(5_000, 100, policy), 5_000);
  t.is(pressuredLateMs(0, 100, policy) * 2, policy.maxWidenMs);
});
