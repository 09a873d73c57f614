// The daemon's own timer lateness: what a late tick reports, and for how long.
import test from 'ava';
import type { Clock } from '../../../daemon/sys/clock.js';
import { LatenessMeter } from '../../../daemon/sys/lateness.js';
import { FakeClock } from '../../fakes/fake-clock.js';

/** A clock whose armed timer the test fires by hand, as late as it likes. */
function handClock() {
  let now = 0;
  let armed: (() => void) | undefined;
  const clock: Clock = {
    nowMs: () => now,
    setTimeout: (fn) => {
      armed = fn;
      return () => (armed = undefined);
    },
    sleep: () => Promise.resolve(),
  };
  return { clock, fireAt: (ms: number) => ((now = ms), armed!()), armed: () => armed !== undefined, setNow: (ms: number) => (now = ms) };
}

test('a tick that fires late reports its lateness for the window, then forgets it', (t) => {
  const h = handClock();
  const meter = new LatenessMeter(h.clock, { tickMs: 250, windowMs: 60_000 });
  meter.start();
  h.fireAt(255); // ordinary jitter
  t.is(meter.recentMaxMs(), 0);
  h.fireAt(255 + 250 + 3_000); // the daemon was starved for 3 s
  t.is(meter.recentMaxMs(), 3_000);
  h.fireAt(3_505 + 250);
  t.is(meter.recentMaxMs(), 3_000, 'remembered');
  h.setNow(3_505 + 61_000);
  t.is(meter.recentMaxMs(), 0, 'forgotten after the window');
  meter.stop();
  t.false(h.armed());
});

test('on time on a fake clock: nothing late', async (t) => {
  const clock = new FakeClock();
  const meter = new LatenessMeter(clock);
  meter.start();
  await clock.advance(5_000);
  t.is(meter.recentMaxMs(), 0);
  meter.stop();
  t.is(clock.pendingTimers(), 0);
});

test('while another timer tells it its lateness every tick or sooner, the meter\'s own timer never fires; it does again once that stops', async (t) => {
  const fake = new FakeClock();
  let ownTicks = 0;
  const clock: Clock = {
    nowMs: () => fake.nowMs(),
    setTimeout: (fn, ms) => fake.setTimeout(() => ((ownTicks += 1), fn()), ms),
    sleep: (ms, o) => fake.sleep(ms, o),
  };
  const meter = new LatenessMeter(clock, { tickMs: 1_000 });
  meter.start();
  for (let i = 0; i < 20; i++) {
    await fake.advance(500);
    meter.noteTick(i === 10 ? 300 : 0);
  }
  t.is(ownTicks, 0, 'no wake-up of its own');
  t.is(meter.recentMaxMs(), 300, 'the lateness it was told');
  await fake.advance(3_000);
  t.is(ownTicks, 3, 'on its own again');
  meter.stop();
  t.is(fake.pendingTimers(), 0);
});
