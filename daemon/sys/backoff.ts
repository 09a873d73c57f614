// Exponential backoff for retries of slow or failed work (babeld statements,
// one-shot commands). Pure, so the schedules are tested as tables.

export interface Backoff {
  /** Delay after the first failure. */
  firstMs: number;
  /** Cap. */
  maxMs: number;
}

/** Delay before the next try after `failures` consecutive failures (1 = the first): first, 2×, 4× … up to max. */
export function backoffDelayMs(failures: number, backoff: Backoff): number {
  if (!Number.isFinite(failures) || failures < 1) return 0;
  return Math.min(backoff.maxMs, backoff.firstMs * 2 ** Math.min(failures - 1, 30));
}
