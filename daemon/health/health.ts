// Conditions that persist (no UPnP gateway, a crash-looping child, the registry
// unreachable, a certificate about to expire) are health items rather than
// repeated log lines. A subsystem raises an item while its condition lasts and
// clears it when the condition ends; `resilnet status` lists the visible ones.
// Each item logs once when it becomes visible and once when it clears.
import type { Logger } from 'pino';
import type { Cancel, Clock } from '../sys/clock.js';

export type HealthSeverity = 'info' | 'warning' | 'error';

export interface HealthItemInput {
  /** Stable code, RN_<AREA>_<WHAT> (the error code of the condition where there is one). */
  code: string;
  /** Short title, e.g. "No UPnP gateway". */
  title: string;
  severity: HealthSeverity;
  /** What is wrong and the next step, complete on its own. */
  text: string;
  /**
   * Stay invisible (and silent) until the condition has lasted this long, so that
   * flapping conditions do not show up or log. Default 0.
   */
  visibleAfterMs?: number;
}

export interface HealthItem {
  code: string;
  title: string;
  severity: HealthSeverity;
  text: string;
  /** When the condition started (first raise since the last clear). */
  sinceMs: number;
  visibleAfterMs: number;
}

export interface HealthDeps {
  clock: Clock;
  log: Pick<Logger, 'info' | 'warn' | 'error'>;
}

interface Entry {
  item: HealthItem;
  visible: boolean;
  cancelReveal: Cancel | undefined;
}

export class HealthRegistry {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly deps: HealthDeps) {}

  /**
   * Raises an item, or updates the title/text/severity of one already raised
   * (its `sinceMs` stays, nothing is logged again).
   */
  raise(input: HealthItemInput): void {
    if (!input.code) throw new TypeError('health item needs a code');
    const visibleAfterMs = Math.max(0, input.visibleAfterMs ?? 0);
    const existing = this.entries.get(input.code);
    if (existing) {
      existing.item = { ...existing.item, title: input.title, severity: input.severity, text: input.text };
      return;
    }
    const entry: Entry = {
      item: { code: input.code, title: input.title, severity: input.severity, text: input.text, sinceMs: this.deps.clock.nowMs(), visibleAfterMs },
      visible: false,
      cancelReveal: undefined,
    };
    this.entries.set(input.code, entry);
    if (visibleAfterMs === 0) this.reveal(entry);
    else entry.cancelReveal = this.deps.clock.setTimeout(() => this.reveal(entry), visibleAfterMs);
  }

  /** Clears the item with `code`; returns whether one was raised. */
  clear(code: string): boolean {
    const entry = this.entries.get(code);
    if (!entry) return false;
    this.entries.delete(code);
    entry.cancelReveal?.();
    if (entry.visible) {
      const forMs = this.deps.clock.nowMs() - entry.item.sinceMs;
      this.deps.log.info({ code, title: entry.item.title, forMs }, 'health item cleared');
    }
    return true;
  }

  /** Items raised at least `visibleAfterMs` ago, most severe first, then oldest first. */
  list(): HealthItem[] {
    return [...this.entries.values()]
      .filter((e) => e.visible)
      .map((e) => ({ ...e.item }))
      .sort((a, b) => SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity] || a.sinceMs - b.sinceMs);
  }

  /** Whether an item is raised (visible or not yet). */
  has(code: string): boolean {
    return this.entries.has(code);
  }

  /** Cancels pending reveal timers (at daemon stop); items stay listed. */
  stop(): void {
    for (const entry of this.entries.values()) {
      entry.cancelReveal?.();
      entry.cancelReveal = undefined;
    }
  }

  private reveal(entry: Entry): void {
    // A clear between arming and firing removed it from the map.
    if (this.entries.get(entry.item.code) !== entry) return;
    entry.visible = true;
    entry.cancelReveal = undefined;
    const { code, title, severity, text } = entry.item;
    const fields = { code, title, severity, text };
    if (severity === 'error') this.deps.log.error(fields, 'health item raised');
    else if (severity === 'warning') this.deps.log.warn(fields, 'health item raised');
    else this.deps.log.info(fields, 'health item raised');
  }
}

const SEVERITY_RANK: Record<HealthSeverity, number> = { info: 0, warning: 1, error: 2 };
