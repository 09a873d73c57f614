// The one runner of one-shot commands: output, stdin, timeout (reported as such),
// cancel, a program that is missing, and retries of runs that timed out.
import test from 'ava';
import { retryTimeouts, runFile, type RunFileResult } from '../../../daemon/sys/run-file.js';
import { FakeClock } from '../../fakes/fake-clock.js';

test('collects stdout and stderr and passes stdin', async (t) => {
  t.like(await runFile('sh', ['-c', 'cat; echo err >&2; exit 3'], { input: 'hello\n' }), { exitCode: 3, stdout: 'hello\n', stderr: 'err\n', timedOut: false });
});

test('a run past its timeout is killed and says it timed out', async (t) => {
  const r = await runFile('sleep', ['30'], { timeoutMs: 100 });
  t.is(r.exitCode, -1);
  t.true(r.timedOut);
  t.regex(r.stderr, /timed out after 100 ms/);
});

test('a cancelled run is killed and is no timeout', async (t) => {
  const ac = new AbortController();
  const p = runFile('sleep', ['30'], { signal: ac.signal });
  ac.abort();
  const r = await p;
  t.is(r.exitCode, -1);
  t.false(r.timedOut);
  t.like(await runFile('true', [], { signal: ac.signal }), { exitCode: -1, stderr: 'cancelled before start' });
});

test('a missing program is exit -1 with the reason, never a throw', async (t) => {
  const r = await runFile('/nonexistent/program', []);
  t.is(r.exitCode, -1);
  t.regex(r.stderr, /ENOENT/);
});

const result = (over: Partial<RunFileResult>): RunFileResult => ({ exitCode: 0, stdout: '', stderr: '', timedOut: false, ...over });

test('retryTimeouts runs again while a run times out, with backoff and longer timeouts', async (t) => {
  const clock = new FakeClock(0);
  const timeouts: number[] = [];
  const startedAt: number[] = [];
  const retries: Array<[number, number]> = [];
  const outcome = retryTimeouts(
    async (timeoutMs) => {
      timeouts.push(timeoutMs);
      startedAt.push(clock.nowMs());
      return timeouts.length < 3 ? result({ exitCode: -1, timedOut: true }) : result({});
    },
    1_000,
    { attempts: 5, clock, backoff: { firstMs: 100, maxMs: 1_000 }, maxTimeoutMs: 3_000, onRetry: (_r, attempt, delayMs) => retries.push([attempt, delayMs]) },
  );
  await clock.runUntilIdle();
  t.like(await outcome, { exitCode: 0 });
  t.deepEqual(timeouts, [1_000, 2_000, 3_000]);
  t.deepEqual(startedAt, [0, 100, 300]);
  t.deepEqual(retries, [[1, 100], [2, 200]]);
});

test('retryTimeouts returns a real failure at once, and the last timeout after the last try', async (t) => {
  const clock = new FakeClock(0);
  let runs = 0;
  t.like(await retryTimeouts(async () => (runs++, result({ exitCode: 2, stderr: 'no' })), 1_000, { attempts: 5, clock }), { exitCode: 2 });
  t.is(runs, 1);
  runs = 0;
  const last = retryTimeouts(async () => (runs++, result({ exitCode: -1, timedOut: true })), 1_000, { attempts: 3, clock });
  await clock.runUntilIdle();
  t.like(await last, { timedOut: true });
  t.is(runs, 3);
});
