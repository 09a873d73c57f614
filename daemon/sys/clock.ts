// The one place that reads the wall clock and arms real timers. Everything that
// waits or measures takes a Clock, so tests drive time with test/fakes/fake-clock.ts.

/** Cancels a timer armed by `Clock.setTimeout`; calling it twice is harmless. */
export type Cancel = () => void;

export interface Clock {
  /** Milliseconds since the Unix epoch. */
  nowMs(): number;
  /** Runs `fn` once after `ms`; returns a function that cancels it. */
  setTimeout(fn: () => void, ms: number): Cancel;
  /** Resolves after `ms`; rejects with the signal's reason when aborted first. */
  sleep(ms: number, options?: { signal?: AbortSignal }): Promise<void>;
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new Error('aborted');
}

/** Shared sleep built on any clock's setTimeout (the fake clock reuses it). */
export function sleepOn(clock: Pick<Clock, 'setTimeout'>, ms: number, options: { signal?: AbortSignal } = {}): Promise<void> {
  const { signal } = options;
  if (signal?.aborted) return Promise.reject(abortReason(signal));
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      cancel();
      reject(abortReason(signal!));
    };
    const cancel = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export const systemClock: Clock = {
  nowMs: () => Date.now(),
  setTimeout(fn, ms) {
    const handle = setTimeout(fn, Math.max(0, ms));
    return () => clearTimeout(handle);
  },
  sleep(ms, options) {
    return sleepOn(systemClock, ms, options);
  },
};
