// The one helper for periodic work (heartbeat, tunnel re-planning, traffic
// sampling, …): runs never overlap, each run gets a signal that fires on
// shutdown or after its timeout, and every failure is logged with the task's name.
import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import type { Clock } from './sys/clock.js';

export interface EveryOptions {
  clock: Clock;
  log: Pick<Logger, 'warn'>;
  /** Aborts the current run and ends the schedule. */
  signal: AbortSignal;
  /** Each run is aborted after this long. */
  timeoutMs: number;
  /** First run after this delay (default: one interval). 0 runs at once. */
  firstDelayMs?: number;
}

export interface Periodic {
  /** Runs the task as soon as possible (after the current run, if one is going). */
  trigger(): void;
  /** Changes the period from the next run on. */
  setIntervalMs(intervalMs: number): void;
  /** Resolves once no run is in flight (call after aborting the signal). */
  idle(): Promise<void>;
}

export function every(
  intervalMs: number,
  name: string,
  task: (signal: AbortSignal) => Promise<void>,
  options: EveryOptions,
): Periodic {
  const { clock, log, signal, timeoutMs } = options;
  let periodMs = intervalMs;
  let cancelTimer: (() => void) | undefined;
  let running: Promise<void> | undefined;
  let again = false;

  const schedule = (delayMs: number): void => {
    cancelTimer?.();
    if (signal.aborted) return;
    cancelTimer = clock.setTimeout(() => {
      cancelTimer = undefined;
      run();
    }, delayMs);
  };

  const run = (): void => {
    if (signal.aborted) return;
    if (running) {
      again = true;
      return;
    }
    // A timeout of our own on the injected clock, so fake-clock tests can drive it.
    const timeout = new AbortController();
    const cancelTimeout = clock.setTimeout(
      () => timeout.abort(new Error(`${name} timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
    const runSignal = AbortSignal.any([signal, timeout.signal]);
    // A run may wait on many things at once (a plan round opens tunnels in parallel, each with its
    // own waits), each removing its listener when done: Node's leak warning at 11 does not apply.
    setMaxListeners(0, runSignal);
    running = (async () => {
      try {
        await task(runSignal);
      } catch (err) {
        if (!signal.aborted) log.warn({ err, task: name }, 'periodic task failed');
      } finally {
        cancelTimeout();
        running = undefined;
      }
      if (again) {
        again = false;
        schedule(0);
      } else {
        schedule(periodMs);
      }
    })();
  };

  signal.addEventListener('abort', () => cancelTimer?.(), { once: true });
  schedule(options.firstDelayMs ?? periodMs);

  return {
    trigger() {
      if (running) again = true;
      else schedule(0);
    },
    setIntervalMs(ms) {
      periodMs = ms;
      if (!running) schedule(ms);
    },
    async idle() {
      while (running) await running;
    },
  };
}
