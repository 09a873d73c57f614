// Keeps babeld running what the daemon wants. One loop sends the next idempotent
// statement (desired.ts) until babeld's answers (and its own `dump`) show the
// desired state, and while calm asks babeld now and then whether it answers; a
// statement babeld does not answer in time is retried with backoff and longer
// timeouts, reported as a health warning, and never thrown to the caller. A babeld that stays unanswered for long while its process exists is
// handed to `onUnresponsive` (the link restarts it); that deadline widens when
// the daemon's own timers run late, so CPU starvation alone does not restart it.
import type { Logger } from 'pino';
import type { HealthRegistry } from '../health/health.js';
import { raceSignal } from '../sys/abort.js';
import { backoffDelayMs, type Backoff } from '../sys/backoff.js';
import type { Cancel, Clock } from '../sys/clock.js';
import { onTime, type LatenessSource } from '../sys/lateness.js';
import type { BounceResult } from './bounce.js';
import type { BabelClient } from './client.js';
import { afterDump, afterStep, emptyApplied, nextBabelStep, pendingSteps, type AppliedBabel, type BabelStep, type DesiredBabel, type DesiredInterface, type StepOptions, type StepOutcome } from './desired.js';
import { stopController } from '../sys/abort.js';

export const BABEL_UNREACHABLE = 'RN_BABEL_UNREACHABLE';

export interface ReconcilerTimings {
  /** Timeout of a statement while babeld answers. */
  requestTimeoutMs: number;
  /** Cap of the timeout, which doubles with each consecutive failure. */
  maxRequestTimeoutMs: number;
  /** Pause between tries after a failure. */
  retry: Backoff;
  /** While nothing is pending, a `dump` this often confirms babeld runs our interfaces (also the first request after a failure). */
  verifyIntervalMs: number;
  /**
   * While nothing is pending, a request this often confirms babeld answers (`CHECK_LINE`): a
   * dump at 32 nodes is ~400 lines that babeld cuts off when it cannot write them fast enough.
   */
  checkIntervalMs: number;
  /** Unanswered this long (while its process exists) → onUnresponsive. */
  unresponsiveMs: number;
}

export const defaultReconcilerTimings: ReconcilerTimings = {
  requestTimeoutMs: 5_000,
  maxRequestTimeoutMs: 15_000,
  retry: { firstMs: 500, maxMs: 10_000 },
  verifyIntervalMs: 120_000,
  checkIntervalMs: 15_000,
  unresponsiveMs: 45_000,
};

/** Answered `ok` and nothing else by a babeld connection that does not monitor: a cheap "are you there". */
export const CHECK_LINE = 'unmonitor';

/** Our own timers this late make every wait look that much longer: widen by a multiple, within bounds. */
const LATE_TIMEOUT_FACTOR = 4;
const LATE_UNRESPONSIVE_FACTOR = 10;
const MAX_LATE_WIDENING_MS = 120_000;

/** Timeout of the next request after `failures` consecutive failures, with the daemon `lateMs` late. */
export function requestTimeoutMs(failures: number, lateMs: number, t: ReconcilerTimings): number {
  const base = Math.min(t.maxRequestTimeoutMs, t.requestTimeoutMs * 2 ** Math.min(Math.max(failures, 0), 10));
  return base + Math.min(MAX_LATE_WIDENING_MS, LATE_TIMEOUT_FACTOR * Math.max(0, lateMs));
}

/** How long babeld may stay unanswered before it counts as hung, with the daemon `lateMs` late. */
export function unresponsiveAfterMs(lateMs: number, t: ReconcilerTimings): number {
  return t.unresponsiveMs + Math.min(MAX_LATE_WIDENING_MS, LATE_UNRESPONSIVE_FACTOR * Math.max(0, lateMs));
}

export interface ReconcilerDeps {
  client: Pick<BabelClient, 'request' | 'dumpInterfaces'>;
  clock: Clock;
  log: Pick<Logger, 'info' | 'warn' | 'debug'>;
  health?: Pick<HealthRegistry, 'raise' | 'clear'>;
  lateness?: LatenessSource;
  /** Whether babeld's process exists now (unanswered time counts only then). */
  running: () => boolean;
  /** babeld stayed unanswered for `unansweredMs` while running. */
  onUnresponsive: (unansweredMs: number) => void;
  /**
   * Bounces a link so babeld applies the cost it stored (bounce.ts). Given: a live interface's
   * cost is changed by set + bounce; absent, or when a bounce fails: by flush + add.
   */
  bounce?: (ifName: string, options: { signal: AbortSignal; timeoutMs: number }) => Promise<BounceResult>;
}

export interface ReconcilerStatus {
  /** False while the last request went unanswered. */
  answering: boolean;
  unansweredSinceMs: number | null;
  lastError: string | null;
  /** Statements babeld has not confirmed yet, in the order they will be sent. */
  pending: string[];
}

interface Waiter {
  holds: (desired: DesiredBabel, applied: AppliedBabel) => boolean;
  resolve: (held: boolean) => void;
}

export class BabelReconciler {
  private readonly wanted: { helloSec: number; interfaces: Map<string, DesiredInterface> };
  private state: AppliedBabel = emptyApplied();
  private readonly timings: ReconcilerTimings;
  /** Dump before the next statement: after a failure nothing babeld runs is taken for granted. */
  private verifyNext = true;
  private lastVerifiedMs = Number.NEGATIVE_INFINITY;
  /** When babeld last answered anything (a statement, a dump, a check). */
  private lastAnsweredMs = Number.NEGATIVE_INFINITY;
  private failures = 0;
  private refusals = 0;
  private unansweredSinceMs: number | null = null;
  private lastError: string | null = null;
  /** Bumped when babeld exits or starts: an answer from an older babeld is not applied. */
  private generation = 0;
  private wakeUp: (() => void) | undefined;
  private backingOff = false;
  private readonly waiters = new Set<Waiter>();
  private readonly abort = stopController();
  private loop: Promise<void> | undefined;

  constructor(
    initialHelloSec: number,
    private readonly deps: ReconcilerDeps,
    timings: Partial<ReconcilerTimings> = {},
  ) {
    this.wanted = { helloSec: initialHelloSec, interfaces: new Map() };
    this.timings = { ...defaultReconcilerTimings, ...timings };
  }

  get desired(): DesiredBabel {
    return this.wanted;
  }

  get applied(): AppliedBabel {
    return this.state;
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.wakeUp?.();
    for (const w of [...this.waiters]) this.settle(w, false);
    await this.loop;
  }

  /** Changes the desired state; the loop picks it up at once (after its current backoff, if any). */
  update(change: (desired: { helloSec: number; interfaces: Map<string, DesiredInterface> }) => void): void {
    change(this.wanted);
    this.notify();
    if (!this.backingOff) this.wakeUp?.();
  }

  /** babeld exited or (re)started: it runs none of our statements any more. */
  restarted(): void {
    this.generation++;
    this.state = emptyApplied();
    // A fresh babeld knows nothing we must verify; its first answer shows it is there.
    this.verifyNext = false;
    this.failures = 0;
    this.unansweredSinceMs = null;
    this.notify();
    this.wakeUp?.();
  }

  /** Resolves true once `holds` is true, false after `maxMs`, on `signal` or at stop. */
  waitUntil(holds: Waiter['holds'], maxMs: number, signal?: AbortSignal): Promise<boolean> {
    if (holds(this.wanted, this.state)) return Promise.resolve(true);
    if (this.abort.signal.aborted || signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      let cancel: Cancel | undefined;
      const onAbort = (): void => this.settle(waiter, false);
      const waiter: Waiter = {
        holds,
        resolve: (held) => {
          cancel?.();
          signal?.removeEventListener('abort', onAbort);
          resolve(held);
        },
      };
      this.waiters.add(waiter);
      cancel = this.deps.clock.setTimeout(() => this.settle(waiter, false), maxMs);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  status(): ReconcilerStatus {
    return {
      answering: this.unansweredSinceMs === null && this.failures === 0,
      unansweredSinceMs: this.unansweredSinceMs,
      lastError: this.lastError,
      pending: pendingSteps(this.wanted, this.state, this.stepOptions).map((s) => s.line),
    };
  }

  private get stepOptions(): StepOptions {
    return { liveCost: this.deps.bounce !== undefined };
  }

  private settle(w: Waiter, held: boolean): void {
    if (!this.waiters.delete(w)) return;
    w.resolve(held);
  }

  private notify(): void {
    for (const w of [...this.waiters]) if (w.holds(this.wanted, this.state)) this.settle(w, true);
  }

  private setApplied(next: AppliedBabel): void {
    this.state = next;
    this.notify();
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    const { clock } = this.deps;
    while (!signal.aborted) {
      const verify = this.verifyNext || clock.nowMs() - this.lastVerifiedMs >= this.timings.verifyIntervalMs;
      const step = verify ? undefined : nextBabelStep(this.wanted, this.state, this.stepOptions);
      const check = !verify && !step && clock.nowMs() - this.lastAnsweredMs >= this.timings.checkIntervalMs;
      if (!verify && !step && !check) {
        this.refusals = 0;
        this.lastError = null;
        await this.pause(Math.min(this.lastVerifiedMs + this.timings.verifyIntervalMs, this.lastAnsweredMs + this.timings.checkIntervalMs) - clock.nowMs(), false);
        continue;
      }
      const generation = this.generation;
      const sentAtMs = clock.nowMs();
      const timeoutMs = requestTimeoutMs(this.failures, this.lateMs(), this.timings);
      let refused = false;
      if (step?.kind === 'bounce') {
        await this.bounce(step, signal, timeoutMs);
        continue;
      }
      try {
        if (check) {
          // Any answer will do (an old babeld without `unmonitor` says `bad`): it answered.
          await raceSignal(this.deps.client.request(CHECK_LINE, { signal, timeoutMs }), signal);
          if (generation !== this.generation) continue;
        } else if (step) {
          const reply = await raceSignal(this.deps.client.request(step.line, { signal, timeoutMs }), signal);
          if (generation !== this.generation) continue;
          const outcome: StepOutcome | 'refused' = reply.status === 'ok' ? 'ok' : step.kind === 'flush' && /no such interface/i.test(reply.text) ? 'gone' : 'refused';
          if (outcome === 'refused') {
            refused = true;
            this.refused(step, `${reply.status}${reply.text ? ` ${reply.text}` : ''}`);
          } else {
            this.setApplied(afterStep(this.state, step, outcome));
            this.deps.log.debug({ line: step.line, outcome }, 'babel statement applied');
          }
        } else {
          const interfaces = await raceSignal(this.deps.client.dumpInterfaces({ signal, timeoutMs }), signal);
          if (generation !== this.generation) continue;
          this.setApplied(afterDump(this.state, interfaces.keys()));
          this.verifyNext = false;
          this.lastVerifiedMs = clock.nowMs();
        }
        this.answered();
      } catch (err) {
        if (signal.aborted) break;
        if (generation !== this.generation) continue;
        if (step) this.setApplied(afterStep(this.state, step, 'failed'));
        this.verifyNext = true;
        this.unanswered(check ? CHECK_LINE : (step?.line ?? 'dump'), err, sentAtMs);
      }
      if (refused) await this.pause(backoffDelayMs(this.refusals, this.timings.retry), true);
      else if (this.failures > 0) await this.pause(backoffDelayMs(this.failures, this.timings.retry), true);
    }
  }

  /** Carries out a bounce; a failed one leaves the interface unknown, so it is flushed and added instead. */
  private async bounce(step: Extract<BabelStep, { kind: 'bounce' }>, signal: AbortSignal, timeoutMs: number): Promise<void> {
    const generation = this.generation;
    const result = await this.deps.bounce!(step.ifName, { signal, timeoutMs });
    if (signal.aborted || generation !== this.generation) return;
    this.setApplied(afterStep(this.state, step, result.ok ? 'ok' : 'failed'));
    if (result.ok) this.deps.log.info({ iface: step.ifName, rxcost: step.rxcost, downMs: result.downMs, upSeen: result.upSeen }, 'babel cost changed live (link bounced)');
    else this.deps.log.warn({ iface: step.ifName, rxcost: step.rxcost, why: result.why }, 'link bounce failed; the interface is flushed and added again instead');
  }

  private lateMs(): number {
    return (this.deps.lateness ?? onTime).recentMaxMs();
  }

  /** Waits `ms` or until woken (a backoff pause is woken only by a babeld restart or stop). */
  private pause(ms: number, backoff: boolean): Promise<void> {
    if (this.abort.signal.aborted) return Promise.resolve();
    this.backingOff = backoff;
    return new Promise((resolve) => {
      const done = (): void => {
        cancel();
        this.wakeUp = undefined;
        this.backingOff = false;
        resolve();
      };
      const cancel = this.deps.clock.setTimeout(done, Math.max(0, ms));
      this.wakeUp = done;
    });
  }

  private answered(): void {
    if (this.failures > 0 || this.unansweredSinceMs !== null) {
      const sinceMs = this.unansweredSinceMs;
      this.deps.log.info({ failures: this.failures, unansweredMs: sinceMs === null ? null : this.deps.clock.nowMs() - sinceMs }, 'babeld answers again');
    }
    this.failures = 0;
    this.unansweredSinceMs = null;
    this.lastAnsweredMs = this.deps.clock.nowMs();
    // A refusal stays the last error until the statement holds.
    if (this.refusals === 0) this.lastError = null;
    this.deps.health?.clear(BABEL_UNREACHABLE);
  }

  private refused(step: BabelStep, answer: string): void {
    this.refusals++;
    this.lastError = `babeld refused "${step.line}" (${answer})`;
    this.setApplied(afterStep(this.state, step, 'failed'));
    this.deps.log.warn({ line: step.line, answer, refusals: this.refusals }, 'babeld refused a statement; retrying with backoff');
  }

  private unanswered(line: string, err: unknown, sentAtMs: number): void {
    const nowMs = this.deps.clock.nowMs();
    this.failures++;
    this.lastError = err instanceof Error ? err.message : String(err);
    if (!this.deps.running()) {
      // No process: the supervisor is restarting babeld; its start resets all this.
      this.unansweredSinceMs = null;
    } else {
      this.unansweredSinceMs ??= sentAtMs;
    }
    const forSec = this.unansweredSinceMs === null ? 0 : Math.round((nowMs - this.unansweredSinceMs) / 1000);
    const pending = pendingSteps(this.wanted, this.state, this.stepOptions).map((s) => s.line);
    const limitMs = unresponsiveAfterMs(this.lateMs(), this.timings);
    this.deps.health?.raise({
      code: BABEL_UNREACHABLE,
      title: 'babeld does not answer',
      severity: 'warning',
      text: `babeld has not answered for ${forSec} s (${this.lastError}); the daemon retries with backoff${pending.length ? ` (${pending.length} statement(s) pending: ${pending.slice(0, 3).join('; ')})` : ''} and restarts babeld after ${Math.round(limitMs / 1000)} s without an answer.`,
    });
    const log = this.failures === 1 || this.failures % 10 === 0 ? this.deps.log.warn.bind(this.deps.log) : this.deps.log.debug.bind(this.deps.log);
    log({ line, failures: this.failures, err: this.lastError, unansweredForSec: forSec }, 'babeld did not answer; retrying');
    if (this.unansweredSinceMs !== null && nowMs - this.unansweredSinceMs >= limitMs) {
      const unansweredMs = nowMs - this.unansweredSinceMs;
      // A full period again before the next restart.
      this.unansweredSinceMs = nowMs;
      this.deps.onUnresponsive(unansweredMs);
    }
  }
}

