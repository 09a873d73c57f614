import test from 'ava';
import { systemClock } from '../../../daemon/sys/clock.js';
import { FakeClock } from '../../fakes/fake-clock.js';

test('FakeClock fires due timers in time order and cancels', async (t) => {
  const clock = new FakeClock(1000);
  const fired: string[] = [];
  clock.setTimeout(() => fired.push('b@300'), 300);
  clock.setTimeout(() => fired.push('a@100'), 100);
  const cancel = clock.setTimeout(() => fired.push('never'), 200);
  clock.setTimeout(() => fired.push('c@300'), 300);
  cancel();
  await clock.advance(299);
  t.deepEqual(fired, ['a@100']);
  t.is(clock.nowMs(), 1299);
  await clock.advance(1);
  t.deepEqual(fired, ['a@100', 'b@300', 'c@300']);
  t.is(clock.pendingTimers(), 0);
});

test('FakeClock.sleep resolves on advance and rejects on abort; runUntilIdle follows chains', async (t) => {
  const clock = new FakeClock(0);
  const order: number[] = [];
  void (async () => {
    await clock.sleep(10);
    order.push(clock.nowMs());
    await clock.sleep(20);
    order.push(clock.nowMs());
  })();
  await clock.runUntilIdle();
  t.deepEqual(order, [10, 30]);
  const ac = new AbortController();
  const p = clock.sleep(1000, { signal: ac.signal });
  ac.abort(new Error('stop'));
  await t.throwsAsync(p, { message: 'stop' });
  t.is(clock.pendingTimers(), 0);
});

test('systemClock sleeps and can be aborted', async (t) => {
  const start = systemClock.nowMs();
  await systemClock.sleep(5);
  t.true(systemClock.nowMs() >= start);
  const ac = new AbortController();
  ac.abort(new Error('early'));
  await t.throwsAsync(systemClock.sleep(10_000, { signal: ac.signal }), { message: 'early' });
});
