import test from 'ava';
import { every } from '../../daemon/every.js';
import { FakeClock } from '../fakes/fake-clock.js';

function logSink() {
  const warnings: Array<{ task: unknown; err: unknown }> = [];
  return { warnings, log: { warn: (obj: any) => warnings.push({ task: obj.task, err: obj.err }) } as any };
}

test('runs every interval, first after firstDelayMs, and stops on abort', async (t) => {
  const clock = new FakeClock(0);
  const stop = new AbortController();
  const runs: number[] = [];
  const { log } = logSink();
  every(1000, 'tick', async () => void runs.push(clock.nowMs()), { clock, log, signal: stop.signal, timeoutMs: 500, firstDelayMs: 0 });
  await clock.advance(3500);
  t.deepEqual(runs, [0, 1000, 2000, 3000]);
  stop.abort();
  await clock.advance(5000);
  t.is(runs.length, 4);
  t.is(clock.pendingTimers(), 0);
});

test('a failing run is logged with the task name and the schedule goes on', async (t) => {
  const clock = new FakeClock(0);
  const stop = new AbortController();
  const { log, warnings } = logSink();
  let n = 0;
  every(
    100,
    'heartbeat',
    async () => {
      n++;
      if (n === 1) throw new Error('registry down');
    },
    { clock, log, signal: stop.signal, timeoutMs: 50 },
  );
  await clock.advance(250);
  t.is(n, 2);
  t.is(warnings.length, 1);
  t.is(warnings[0]!.task, 'heartbeat');
  stop.abort();
});

test('runs never overlap; a trigger during a run queues exactly one more run', async (t) => {
  const clock = new FakeClock(0);
  const stop = new AbortController();
  const { log } = logSink();
  let active = 0;
  let maxActive = 0;
  let runs = 0;
  const p = every(
    10_000,
    'plan',
    async () => {
      active++;
      maxActive = Math.max(maxActive, active);
      runs++;
      await clock.sleep(100);
      active--;
    },
    { clock, log, signal: stop.signal, timeoutMs: 1000, firstDelayMs: 0 },
  );
  await clock.advance(10);
  p.trigger();
  p.trigger();
  await clock.advance(300);
  t.is(runs, 2);
  t.is(maxActive, 1);
  stop.abort();
});

test('a run that outlives its timeout sees its signal abort', async (t) => {
  const clock = new FakeClock(0);
  const stop = new AbortController();
  const { log, warnings } = logSink();
  every(1000, 'slow', (signal) => clock.sleep(10_000, { signal }), { clock, log, signal: stop.signal, timeoutMs: 200, firstDelayMs: 0 });
  await clock.advance(250);
  t.is(warnings.length, 1);
  t.regex(String((warnings[0]!.err as Error).message), /slow timed out after 200 ms/);
  stop.abort();
});

test('setIntervalMs changes the period', async (t) => {
  const clock = new FakeClock(0);
  const stop = new AbortController();
  const runs: number[] = [];
  const { log } = logSink();
  const p = every(1000, 'x', async () => void runs.push(clock.nowMs()), { clock, log, signal: stop.signal, timeoutMs: 100 });
  await clock.advance(1000);
  p.setIntervalMs(200);
  await clock.advance(450);
  t.deepEqual(runs, [1000, 1200, 1400]);
  stop.abort();
});

