// Waiting on conditions with a deadline: `check` returns a value when the
// condition holds and throws (or returns undefined) with the reason otherwise,
// so a timeout can say what was still wrong.
import { setTimeout as delay } from 'node:timers/promises';
import { LabError } from './errors.js';

export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
  what: string;
  signal?: AbortSignal;
}

export async function waitFor<T>(check: () => Promise<T | undefined> | T | undefined, options: WaitOptions): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  let lastReason = 'not checked yet';
  for (;;) {
    options.signal?.throwIfAborted();
    try {
      const value = await check();
      if (value !== undefined) return value;
      lastReason = 'condition not met';
    } catch (err) {
      lastReason = (err as Error).message;
    }
    if (Date.now() >= deadline) {
      throw new LabError('RN_LAB_TIMEOUT', `timed out after ${Math.round(options.timeoutMs / 1000)} s waiting for ${options.what} (last: ${lastReason}).`, {
        details: { lastReason },
      });
    }
    await delay(Math.min(options.intervalMs ?? 200, Math.max(0, deadline - Date.now())), undefined, options.signal ? { signal: options.signal } : {});
  }
}
