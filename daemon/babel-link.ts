// babeld as the daemon uses it: one supervised babeld, a reconciler that keeps it
// running the desired state (default hello interval, the tunnel interfaces with
// their cost) through idempotent statements on its socket, and a monitor session
// folded into a live table. A slow or frozen babeld is retried and reported,
// never thrown to the caller; one that stays unanswered is restarted, and after
// any restart the desired state is applied again.
import type { Logger } from 'pino';
import { ResilnetError } from '../config/errors.js';
import { buildBabeldArgv, type BabelSpec } from './babel/argv.js';
import { bounceLink, type BounceDeps, type BounceResult } from './babel/bounce.js';
import { BabelClient } from './babel/client.js';
import { helloHolds, interfaceHolds, type AppliedBabel } from './babel/desired.js';
import { LiveBabelTable } from './babel/live-table.js';
import type { BabelRoute } from './babel/parse.js';
import { BabelReconciler, type ReconcilerTimings } from './babel/reconciler.js';
import type { BabelTable } from './babel/table.js';
import type { HealthRegistry } from './health/health.js';
import type { Supervisor, SupervisorEvent } from './supervisor/index.js';
import type { Clock } from './sys/clock.js';
import { runIp } from './sys/interfaces.js';
import { linkLocalFor } from './identity.js';
import { LatenessMeter, type LatenessSource } from './sys/lateness.js';
import type { LastRoute } from './tunnels/detours.js';
import type { TunnelBabel } from './tunnels/manager.js';
import type { StatusResponse } from './control/protocol.js';

export const BABELD_CHILD = 'babeld';

export type BabelLinkSpec = Omit<BabelSpec, 'interfaces'>;

/** The part of the node's settings babel runs on (see reconfigure). */
export interface BabelSettings {
  helloIntervalSec: number;
}

export interface BabelLinkDeps {
  clock: Clock;
  log: Logger;
  supervisor: Pick<Supervisor, 'start' | 'stop' | 'restart' | 'pid' | 'on'>;
  /** Where "babeld does not answer" is shown (RN_BABEL_UNREACHABLE, a warning). */
  health?: Pick<HealthRegistry, 'raise' | 'clear'>;
  /** The daemon's own timer lateness; the link measures its own when not given. */
  lateness?: LatenessSource;
  /** Runs ip/sysctl for link bounces (default: the real runIp). */
  runIp?: BounceDeps['run'];
  /**
   * Told when a tunnel link is taken down for a cost change and when it is back, so link
   * liveness can tell this planned silence (up to a few seconds on a loaded host) from a lost link.
   */
  onLinkBounce?: (ifName: string, phase: 'start' | 'end') => void;
  /** Run before every babeld start: removes the kernel routes a killed babeld left (none when not given). */
  flushStaleRoutes?: () => Promise<void> | void;
}

export interface BabelLinkOptions {
  /** How long interface changes wait for babeld to confirm before resolving anyway (the reconciler goes on). */
  confirmWaitMs: number;
  /** How long start() waits for a first answer from babeld before resolving anyway. */
  startWaitMs: number;
  timings: Partial<ReconcilerTimings>;
  /**
   * How a live tunnel's cost changes (drain, restore): 'bounce' sets it and bounces the link,
   * keeping babel's neighbours (D6); 'flush' flushes and adds the interface again (D2).
   */
  liveCost: 'bounce' | 'flush';
}

const DEFAULT_OPTIONS: BabelLinkOptions = { confirmWaitMs: 5_000, startWaitMs: 10_000, timings: {}, liveCost: 'bounce' };

/** What babeld runs, as `resilnet status` shows it (the control API's type). */
export type BabelLinkStatus = StatusResponse['babeld'];

export class BabelLink implements TunnelBabel {
  private readonly client: BabelClient;
  private readonly reconciler: BabelReconciler;
  private readonly live: LiveBabelTable;
  private readonly options: BabelLinkOptions;
  private readonly ownLateness: LatenessMeter | undefined;
  private readonly monitorAbort = new AbortController();
  private monitorDone: Promise<void> | undefined;
  private unsubscribe: (() => unknown) | undefined;
  /** After stop, changes are ignored: babeld is gone and its interfaces with it. */
  private stopped = false;

  constructor(
    private readonly spec: BabelLinkSpec,
    private readonly deps: BabelLinkDeps,
    options: Partial<BabelLinkOptions> = {},
  ) {
    this.options = { ...DEFAULT_OPTIONS, ...options };
    this.client = new BabelClient({ socketPath: spec.socketPath, clock: deps.clock });
    this.live = new LiveBabelTable(deps.clock);
    this.ownLateness = deps.lateness ? undefined : new LatenessMeter(deps.clock);
    this.reconciler = new BabelReconciler(
      spec.helloIntervalSec,
      {
        client: this.client,
        clock: deps.clock,
        log: deps.log,
        ...(deps.health ? { health: deps.health } : {}),
        lateness: deps.lateness ?? this.ownLateness!,
        running: () => deps.supervisor.pid(BABELD_CHILD) !== undefined,
        onUnresponsive: (ms) => this.restartHung(ms),
        ...(this.options.liveCost === 'bounce'
          ? { bounce: (ifName: string, o: { signal: AbortSignal; timeoutMs: number }) => this.bounce(ifName, o) }
          : {}),
      },
      this.options.timings,
    );
  }

  /**
   * Starts babeld and the loop that configures it. Resolves once babeld answered or after
   * `startWaitMs` (a slow babeld is configured later); rejects only when babeld cannot be
   * started at all (not installed).
   */
  async start(): Promise<void> {
    let firstLaunch: (ev: SupervisorEvent | undefined) => void = () => {};
    const launched = new Promise<SupervisorEvent | undefined>((resolve) => (firstLaunch = resolve));
    this.monitorAbort.signal.addEventListener('abort', () => firstLaunch(undefined), { once: true });
    this.unsubscribe = this.deps.supervisor.on((ev) => {
      if (ev.name !== BABELD_CHILD) return;
      firstLaunch(ev);
      this.onBabeldEvent(ev);
    });
    this.ownLateness?.start();
    // A babeld that crashed (SIGSEGV seen in a starved 64-node lab) leaves its control socket, and
    // every restart then fails with "local_server_socket: Address already in use".
    this.deps.supervisor.start({
      name: BABELD_CHILD,
      argv: buildBabeldArgv({ ...this.spec, interfaces: [] }),
      staleFiles: [this.spec.socketPath],
      ...(this.deps.flushStaleRoutes ? { beforeLaunch: this.deps.flushStaleRoutes } : {}),
    });
    // The first launch (after the flush of stale routes) failing to spawn means babeld is not installed.
    const first = await launched;
    if (this.stopped) return;
    if (first?.kind === 'child-exited' && first.pid === null) {
      throw new ResilnetError('RN_BABEL_NOT_STARTED', `cannot start babeld (${first.spawnError ?? 'spawn failed'}). Install babeld (Debian: apt install babeld) and check that it is in PATH.`);
    }
    this.reconciler.start();
    this.monitorDone = this.runMonitor();
    const answered = await this.reconciler.waitUntil((_d, a) => a.defaultHelloSec !== null, this.options.startWaitMs);
    if (!answered) this.deps.log.warn({ waitedMs: this.options.startWaitMs }, 'babeld has not answered yet; the daemon goes on and configures it when it does');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    await this.reconciler.stop();
    // SIGTERM: babeld retracts its routes before exiting.
    await this.deps.supervisor.stop(BABELD_CHILD);
    this.ownLateness?.stop();
    this.monitorAbort.abort();
    this.client.close();
    await this.monitorDone;
  }

  async addInterface(ifName: string): Promise<void> {
    if (this.stopped) return;
    this.reconciler.update((d) => {
      if (!d.interfaces.has(ifName)) d.interfaces.set(ifName, { draining: false, suspended: false });
    });
    await this.confirm(ifName);
  }

  /** The tunnel is gone: babeld stops using it (an interface babeld no longer has is fine). */
  async removeInterface(ifName: string): Promise<void> {
    if (this.stopped) return;
    this.reconciler.update((d) => void d.interfaces.delete(ifName));
    await this.confirm(ifName);
  }

  /**
   * Link liveness lost the tunnel: babeld forgets the interface now (its routes
   * are retracted and others chosen at once) but it stays wanted for resume.
   */
  async suspendInterface(ifName: string): Promise<void> {
    if (this.stopped || !this.reconciler.desired.interfaces.has(ifName)) return;
    await this.setInterfaceFlag(ifName, 'suspended', true);
  }

  /** Hellos came back: babel runs on the interface again (with the drain cost if it was draining). */
  async resumeInterface(ifName: string): Promise<void> {
    if (this.stopped || !this.reconciler.desired.interfaces.get(ifName)?.suspended) return;
    await this.setInterfaceFlag(ifName, 'suspended', false);
  }

  /**
   * Drain: the interface runs with a high rxcost (a suspended one gets it on resume). On a live
   * interface babel's routes through it are withdrawn for the bounce (well under a second when
   * babeld answers) and come back at the same cost; the peer's move away gracefully.
   */
  async raiseCost(ifName: string): Promise<void> {
    if (this.stopped) return;
    this.reconciler.update((d) => {
      const known = d.interfaces.get(ifName);
      if (known) known.draining = true;
      else d.interfaces.set(ifName, { draining: true, suspended: false });
    });
    await this.confirm(ifName);
  }

  /** Undoes raiseCost: the interface runs with its normal cost again (a drain given up). */
  async restoreCost(ifName: string): Promise<void> {
    if (this.stopped || !this.reconciler.desired.interfaces.get(ifName)?.draining) return;
    await this.setInterfaceFlag(ifName, 'draining', false);
  }

  /** Sets one flag of a known interface in the desired state and waits (bounded) for babeld to run it. */
  private async setInterfaceFlag(ifName: string, flag: 'suspended' | 'draining', value: boolean): Promise<void> {
    this.reconciler.update((d) => {
      const known = d.interfaces.get(ifName);
      if (known) known[flag] = value;
    });
    await this.confirm(ifName);
  }

  /**
   * Asks babeld to run the given settings. Resolves `{ applied: true }` once babeld runs them on
   * every interface, or `{ applied: false, pending }` when it did not confirm within the wait or
   * before `signal` (the link keeps re-sending until they hold). Never rejects for a slow babeld.
   */
  async reconfigure(slice: BabelSettings, options: { signal?: AbortSignal } = {}): Promise<{ applied: boolean; pending?: string }> {
    if (this.stopped) return { applied: false, pending: 'babeld is stopped' };
    this.reconciler.update((d) => {
      d.helloSec = slice.helloIntervalSec;
    });
    const held = await this.reconciler.waitUntil((d, a) => d.helloSec === slice.helloIntervalSec && helloHolds(d, a), this.options.confirmWaitMs, options.signal);
    if (held) {
      this.deps.log.info({ helloSec: slice.helloIntervalSec }, 'babel hello interval changed');
      return { applied: true };
    }
    const s = this.reconciler.status();
    const pending = `babeld has not confirmed hello interval ${slice.helloIntervalSec} s yet (${s.pending.length} statement(s) pending${s.lastError ? `; last error: ${s.lastError}` : ''}); the daemon keeps re-sending until it holds`;
    this.deps.log.warn({ helloSec: slice.helloIntervalSec, pending: s.pending }, 'babel hello interval not confirmed yet');
    return { applied: false, pending };
  }

  /** The old entry point of reconfigure (kept for callers of the node): never throws for a slow babeld. */
  async setHelloInterval(helloSec: number, _ifNames: string[] = []): Promise<void> {
    await this.reconfigure({ helloIntervalSec: helloSec });
  }

  /** The hello interval the daemon wants babeld to run. */
  get helloIntervalSec(): number {
    return this.reconciler.desired.helloSec;
  }

  routeCount(ifName: string): number {
    return this.live.routeCount(ifName);
  }

  /** The interface of babel's installed route to `prefix`, or null. */
  routeVia(prefix: string): string | null {
    return this.live.routeVia(prefix);
  }

  /** Every route babel knows (installed or not), from the monitor. */
  routes(): Iterable<BabelRoute> {
    return this.live.routes();
  }

  /** Destinations whose installed route babel dropped in the last seconds, with that route. */
  recentlyDropped(): Map<string, LastRoute> {
    return this.live.recentlyDropped();
  }

  reachablePrefixes(): string[] {
    return this.live.reachablePrefixes(this.spec.ownPrefix);
  }

  status(): BabelLinkStatus {
    const pid = this.deps.supervisor.pid(BABELD_CHILD) ?? null;
    const r = this.reconciler.status();
    return {
      running: pid !== null,
      pid,
      routes: this.live.totalRoutes(),
      neighbours: this.live.usableNeighbours(),
      helloIntervalSec: confirmedHelloSec(this.reconciler.applied),
      desiredHelloIntervalSec: this.reconciler.desired.helloSec,
      answering: r.answering,
      pending: r.pending,
    };
  }

  /** The interfaces as babeld reports them (for tests and status). */
  get tableView(): BabelTable {
    return this.live.table;
  }

  /** Waits (bounded) until babeld runs the interface as wanted; never throws. */
  private async confirm(ifName: string): Promise<void> {
    const held = await this.reconciler.waitUntil((d, a) => interfaceHolds(d, a, ifName), this.options.confirmWaitMs);
    if (!held && !this.stopped) this.deps.log.debug({ iface: ifName, pending: this.reconciler.status().pending }, 'babel change not confirmed yet; retrying in the background');
  }

  private async bounce(ifName: string, options: { signal: AbortSignal; timeoutMs: number }): Promise<BounceResult> {
    this.deps.onLinkBounce?.(ifName, 'start');
    try {
      return await bounceLink(ifName, { clock: this.deps.clock, babelSeesUp: (n) => this.live.table.interfaces.get(n)?.up, run: this.deps.runIp ?? runIp }, { ...options, linkLocal: linkLocalFor(this.spec.ownPrefix) });
    } finally {
      this.deps.onLinkBounce?.(ifName, 'end');
    }
  }

  private onBabeldEvent(ev: SupervisorEvent): void {
    // A babeld that exits or starts runs none of our statements: apply everything again.
    if (ev.kind === 'child-exited' || ev.kind === 'child-started') this.reconciler.restarted();
    if (ev.kind === 'child-started' && ev.restarts > 0) this.deps.log.info({ pid: ev.pid, restarts: ev.restarts }, 'babeld restarted: applying the desired babel state again');
  }

  private restartHung(unansweredMs: number): void {
    if (this.stopped) return;
    this.deps.log.warn({ unansweredMs }, 'babeld has not answered for too long; restarting it');
    this.deps.supervisor.restart(BABELD_CHILD).catch((err: unknown) => this.deps.log.warn({ err }, 'cannot restart babeld'));
  }

  private async runMonitor(): Promise<void> {
    try {
      await this.client.monitorEach(
        (ev) => {
          this.live.apply(ev);
          if (ev.kind === 'unknown') this.deps.log.debug({ line: ev.line, reason: ev.reason }, 'babel line not understood');
        },
        { signal: this.monitorAbort.signal, onError: (err, ev) => this.deps.log.warn({ err, event: ev.kind }, 'babel monitor event not applied') },
      );
    } catch (err) {
      if (!this.monitorAbort.signal.aborted) this.deps.log.warn({ err }, 'babel monitor ended');
    }
  }
}

/** The one hello interval babeld confirmed for its default and every interface it runs, else null. */
export function confirmedHelloSec(applied: AppliedBabel): number | null {
  const seen = new Set<number>();
  if (applied.defaultHelloSec === null) return null;
  seen.add(applied.defaultHelloSec);
  for (const state of applied.interfaces.values()) {
    if (state === 'unknown') return null;
    seen.add(state.helloSec);
  }
  return seen.size === 1 ? applied.defaultHelloSec : null;
}
