// How late the daemon's own timers fire. Under CPU starvation (or while the daemon
// itself was stopped) every deadline it measures also runs late, so a slow answer
// from a child may be our own lateness: deadlines widen by what this reports
// instead of declaring the child dead.
import type { Cancel, Clock } from './clock.js';

/** What deadline code reads: the worst lateness seen recently. */
export interface LatenessSource {
  /** Worst lateness (ms) of a timer in the last window, 0 when on time. */
  recentMaxMs(): number;
}

export interface LatenessOptions {
  /** How often the probe timer is armed. */
  tickMs?: number;
  /** How long a late tick is remembered. */
  windowMs?: number;
}

export class LatenessMeter implements LatenessSource {
  private readonly tickMs: number;
  private readonly windowMs: number;
  /** (time, lateness) of late ticks inside the window, oldest first. */
  private readonly samples: Array<{ atMs: number; lateMs: number }> = [];
  private cancel: Cancel | undefined;

  constructor(private readonly clock: Clock, options: LatenessOptions = {}) {
    this.tickMs = options.tickMs ?? 250;
    this.windowMs = options.windowMs ?? 60_000;
  }

  start(): void {
    if (this.cancel) return;
    this.arm();
  }

  stop(): void {
    this.cancel?.();
    this.cancel = undefined;
  }

  /**
   * A timer of the caller's fired `lateMs` after it was due (below 10 ms: ordinary jitter, on time).
   * The meter's own timer then waits a whole tick again: while another timer (link liveness)
   * tells it this often enough, the meter costs the daemon no wake-up of its own.
   */
  noteTick(lateMs: number, atMs = this.clock.nowMs()): void {
    this.noteLate(lateMs, atMs);
    if (!this.cancel) return;
    this.cancel();
    this.arm();
  }

  private noteLate(lateMs: number, atMs: number): void {
    this.note(lateMs >= 10 ? lateMs : 0, atMs);
  }

  /** Records one observation (the tick does this; exposed for callers with their own timers). */
  note(lateMs: number, atMs = this.clock.nowMs()): void {
    this.forget(atMs);
    if (lateMs > 0) this.samples.push({ atMs, lateMs });
  }

  recentMaxMs(): number {
    this.forget(this.clock.nowMs());
    let max = 0;
    for (const s of this.samples) max = Math.max(max, s.lateMs);
    return max;
  }

  private forget(nowMs: number): void {
    while (this.samples.length > 0 && nowMs - this.samples[0]!.atMs > this.windowMs) this.samples.shift();
  }

  private arm(): void {
    const dueMs = this.clock.nowMs() + this.tickMs;
    this.cancel = this.clock.setTimeout(() => {
      const nowMs = this.clock.nowMs();
      this.noteLate(nowMs - dueMs, nowMs);
      this.arm();
    }, this.tickMs);
  }
}

/** A source that never reports lateness (tests, or parts run without a meter). */
export const onTime: LatenessSource = { recentMaxMs: () => 0 };
