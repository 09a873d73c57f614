// What the daemon tells systemd over its life: STATUS= lines while it starts,
// READY=1 once readiness() holds, a STATUS= kept current while it runs,
// WATCHDOG=1 from a timer on the event loop, and STOPPING=1. Every ping comes
// from a timer that fired, so pings stop when the loop stops turning and systemd
// restarts a hung daemon; a loop that is only slow still fires them, late.
import type { Logger } from 'pino';
import type { StatusResponse } from '../control/protocol.js';
import { every } from '../every.js';
import type { Clock } from '../sys/clock.js';
import type { Notifier } from './notify.js';
import { readiness, runningStatus } from './readiness.js';

/** How often readiness is checked while starting. */
const READY_POLL_MS = 1_000;
/** How often the running STATUS line is refreshed (sent only when it changed). */
const STATUS_REFRESH_MS = 15_000;
/** Pings per watchdog period: a few late timers in a row are still in time. */
export const PINGS_PER_WATCHDOG_PERIOD = 4;

export interface ReporterDeps {
  clock: Clock;
  log: Pick<Logger, 'warn'>;
  notifier: Notifier;
  /** The control API's status; throws while the node is still starting. */
  status: () => StatusResponse;
  /** WATCHDOG_USEC in ms, when systemd asked for pings. */
  watchdogMs: number | undefined;
}

export class SystemdReporter {
  private readonly life = new AbortController();
  private lastStatus: string | undefined;
  private readyAt: number | undefined;

  constructor(private readonly deps: ReporterDeps) {}

  /** Starts the watchdog pings (before the node starts: a start that hangs the loop is caught too). */
  begin(what: string): void {
    if (!this.deps.notifier.enabled) return;
    this.status(what);
    const period = this.deps.watchdogMs;
    if (period !== undefined) this.every(Math.max(1, Math.floor(period / PINGS_PER_WATCHDOG_PERIOD)), 'watchdog ping', this.life.signal, () => this.deps.notifier.send({ WATCHDOG: '1' }));
  }

  status(text: string): void {
    if (this.life.signal.aborted || text === this.lastStatus) return;
    this.lastStatus = text;
    this.deps.notifier.send({ STATUS: text });
  }

  /** node.start() returned: wait for readiness, then READY=1 and a STATUS kept current. */
  started(): void {
    if (!this.deps.notifier.enabled) return;
    const since = this.deps.clock.nowMs();
    const check = (): boolean => {
      let s: StatusResponse;
      try {
        s = this.deps.status();
      } catch {
        return false;
      }
      const r = readiness(s, this.deps.clock.nowMs() - since);
      if (!r.ready) {
        this.status(r.status);
        return false;
      }
      this.lastStatus = r.status;
      this.readyAt = this.deps.clock.nowMs();
      this.deps.notifier.send({ READY: '1', STATUS: r.status });
      return true;
    };
    if (check()) return this.keepStatusCurrent();
    const polling = new AbortController();
    this.life.signal.addEventListener('abort', () => polling.abort(), { once: true });
    this.every(READY_POLL_MS, 'readiness check', polling.signal, () => {
      if (!check()) return;
      polling.abort();
      this.keepStatusCurrent();
    });
  }

  /** When READY=1 was sent (ms on the clock). */
  get readySinceMs(): number | undefined {
    return this.readyAt;
  }

  stopping(): void {
    if (!this.deps.notifier.enabled || this.life.signal.aborted) return;
    this.deps.notifier.send({ STOPPING: '1', STATUS: 'stopping: babeld, tunnels, routes' });
    this.life.abort();
  }

  private keepStatusCurrent(): void {
    this.every(STATUS_REFRESH_MS, 'status line', this.life.signal, () => this.status(runningStatus(this.deps.status())));
  }

  /** Runs `fn` every `ms` on the clock's timers: a timer fires only when the event loop turns. */
  private every(ms: number, name: string, signal: AbortSignal, fn: () => void): void {
    every(ms, name, async () => fn(), { clock: this.deps.clock, log: this.deps.log, signal, timeoutMs: ms });
  }
}
