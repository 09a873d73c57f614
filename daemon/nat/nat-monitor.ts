// The daemon's view of its NAT class: STUN probes at start and every
// [nat] check_interval, classified again on every read with the current
// registry and UPnP evidence (those change between probes, and reading is cheap).
// A probe round that fails keeps the last answers: a slow or lost STUN reply is
// reported in the evidence, never a reason to stop checking.
import type { Logger } from 'pino';
import type { Clock } from '../sys/clock.js';
import { classifyNat, type NatClass, type NatEvidenceInput } from './classify.js';
import { gatherStun, type NetcheckReport } from './netcheck.js';
import { formatStunServer, type StunServer, type StunSocket } from './stun-client.js';

export interface NatMonitorDeps {
  clock: Clock;
  log: Pick<Logger, 'info' | 'warn' | 'debug'>;
  servers: readonly StunServer[];
  intervalMs: number;
  /** Everything but the STUN answers, read at each classification. */
  evidence: () => Omit<NatEvidenceInput, 'stun'>;
  open: () => Promise<StunSocket>;
  /** The class changed (e.g. send a heartbeat now). */
  onChange?: (natClass: NatClass) => void;
}

export class NatMonitor {
  private stun: NatEvidenceInput['stun'] = null;
  private checkedAtMs: number | undefined;
  private cancel: (() => void) | undefined;
  private running: Promise<NetcheckReport> | undefined;
  private lastClass: NatClass | undefined;
  private stopped = false;

  constructor(private readonly deps: NatMonitorDeps) {}

  /** First check after `delayMs`, then every interval. */
  start(delayMs: number): void {
    this.schedule(delayMs);
  }

  stop(): void {
    this.stopped = true;
    this.cancel?.();
  }

  /** Probes now (joins a round already running) and returns the fresh report. */
  checkNow(): Promise<NetcheckReport> {
    this.running ??= this.round().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** The current verdict from the last STUN answers and the current other evidence. */
  report(): NetcheckReport {
    const verdict = classifyNat({ ...this.deps.evidence(), stun: this.stun });
    if (verdict.natClass !== this.lastClass) {
      const before = this.lastClass;
      this.lastClass = verdict.natClass;
      if (before !== undefined) {
        this.deps.log.info({ natClass: verdict.natClass, before }, `NAT class ${before} → ${verdict.natClass}: ${verdict.summary}`);
        this.deps.onChange?.(verdict.natClass);
      }
    }
    return {
      ...verdict,
      checkedAt: this.checkedAtMs === undefined ? new Date(this.deps.clock.nowMs()).toISOString() : new Date(this.checkedAtMs).toISOString(),
      stunServers: this.deps.servers.map(formatStunServer),
      localPort: this.stun?.localPort ?? null,
    };
  }

  natClass(): NatClass {
    return this.report().natClass;
  }

  private async round(): Promise<NetcheckReport> {
    if (this.deps.servers.length > 0) {
      try {
        this.stun = await gatherStun(this.deps.servers, this.deps.open);
        this.checkedAtMs = this.deps.clock.nowMs();
      } catch (err) {
        this.deps.log.warn({ err }, 'NAT check: STUN probes failed; keeping the last answers');
      }
    } else {
      this.checkedAtMs = this.deps.clock.nowMs();
    }
    return this.report();
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.cancel = this.deps.clock.setTimeout(() => {
      this.checkNow()
        .then((r) => this.deps.log.debug({ natClass: r.natClass }, 'NAT check done'))
        .catch((err: unknown) => this.deps.log.warn({ err }, 'NAT check failed'))
        .finally(() => this.schedule(this.deps.intervalMs));
    }, delayMs);
  }
}
