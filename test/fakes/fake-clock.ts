// A manual clock: time moves only when a test calls advance(), and due timers fire
// in time order (ties in the order they were armed).
import { sleepOn, type Cancel, type Clock } from '../../daemon/sys/clock.js';

interface Timer {
  id: number;
  dueMs: number;
  fn: () => void;
}

export class FakeClock implements Clock {
  private current: number;
  private timers: Timer[] = [];
  private nextId = 1;

  constructor(startMs = 1_700_000_000_000) {
    this.current = startMs;
  }

  nowMs(): number {
    return this.current;
  }

  setTimeout(fn: () => void, ms: number): Cancel {
    const timer = { id: this.nextId++, dueMs: this.current + Math.max(0, ms), fn };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((t) => t !== timer);
    };
  }

  sleep(ms: number, options?: { signal?: AbortSignal }): Promise<void> {
    return sleepOn(this, ms, options);
  }

  /** Number of armed timers (for assertions such as "nothing is scheduled"). */
  pendingTimers(): number {
    return this.timers.length;
  }

  /** Due time of the next timer, or undefined. */
  nextDueMs(): number | undefined {
    return this.earliest()?.dueMs;
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due on the way, in order.
   * Microtasks are flushed between timers, so promise chains a timer starts can arm
   * further timers that still fire inside this window.
   */
  async advance(ms: number): Promise<void> {
    const target = this.current + ms;
    await flushMicrotasks();
    for (;;) {
      const next = this.earliest();
      if (!next || next.dueMs > target) break;
      this.timers = this.timers.filter((t) => t !== next);
      this.current = Math.max(this.current, next.dueMs);
      next.fn();
      await flushMicrotasks();
    }
    this.current = target;
    await flushMicrotasks();
  }

  /** Fires timers (advancing time to each) until none is left; stops after `maxTimers` as a guard. */
  async runUntilIdle(maxTimers = 10_000): Promise<void> {
    await flushMicrotasks();
    for (let i = 0; i < maxTimers; i++) {
      const next = this.earliest();
      if (!next) return;
      await this.advance(next.dueMs - this.current);
    }
    throw new Error(`FakeClock.runUntilIdle: still busy after ${maxTimers} timers (a timer re-arms itself forever?)`);
  }

  private earliest(): Timer | undefined {
    let best: Timer | undefined;
    for (const t of this.timers) {
      if (!best || t.dueMs < best.dueMs || (t.dueMs === best.dueMs && t.id < best.id)) best = t;
    }
    return best;
  }
}

/** Lets pending promise callbacks run (several rounds, for chains of awaits). */
export async function flushMicrotasks(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.resolve();
  await new Promise<void>((resolve) => setImmediate(resolve));
}
