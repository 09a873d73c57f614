// babeld as the daemon uses it: one supervised babeld, its local socket for
// runtime statements, and a monitor session folded into a live table (route
// counts per tunnel, reachable prefixes). After babeld restarts, the tunnel
// interfaces added at runtime are added again.
import type { Logger } from 'pino';
import { buildBabeldArgv, defaultHelloLine, drainInterfaceLine, DRAIN_RXCOST, flushInterfaceLine, interfaceLine, reconfigureInterfaceLines, type BabelSpec } from './babel/argv.js';
import { BabelClient } from './babel/client.js';
import type { BabelRoute } from './babel/parse.js';
import { applyBabelEvent, emptyBabelTable, isUsableNeighbour, isUsableRoute, reachablePrefixes, routeCountsByInterface, type BabelTable } from './babel/table.js';
import type { Supervisor } from './supervisor/index.js';
import type { Clock } from './sys/clock.js';
import type { LastRoute } from './tunnels/detours.js';
import type { TunnelBabel } from './tunnels/manager.js';

/** How long a route babel dropped still counts as "what the traffic used" for detours. */
const DROPPED_ROUTE_MEMORY_MS = 5_000;

export const BABELD_CHILD = 'babeld';

export type BabelLinkSpec = Omit<BabelSpec, 'interfaces'>;

/** The part of the node's settings babel runs on (see reconfigure). */
export interface BabelSettings {
  helloIntervalSec: number;
}

export interface BabelLinkDeps {
  clock: Clock;
  log: Logger;
  supervisor: Pick<Supervisor, 'start' | 'stop' | 'pid' | 'on'>;
}

export class BabelLink implements TunnelBabel {
  private readonly client: BabelClient;
  private readonly monitorAbort = new AbortController();
  private table: BabelTable = emptyBabelTable();
  private counts = new Map<string, number>();
  /** Per destination, the route babel installed last; droppedAtMs once it has none installed. */
  private readonly lastInstalled = new Map<string, LastRoute & { droppedAtMs: number | null }>();
  private helloSec: number;
  /** Tunnel interfaces babel should run on, whether each is being drained, and whether link liveness took it away. */
  private readonly interfaces = new Map<string, { draining: boolean; suspended?: boolean }>();
  private monitorDone: Promise<void> | undefined;
  private unsubscribe: (() => unknown) | undefined;
  /** After stop, runtime statements are skipped: babeld is gone and its interfaces with it. */
  private stopped = false;

  constructor(
    private readonly spec: BabelLinkSpec,
    private readonly deps: BabelLinkDeps,
  ) {
    this.helloSec = spec.helloIntervalSec;
    this.client = new BabelClient({ socketPath: spec.socketPath, clock: deps.clock, requestTimeoutMs: 5_000 });
  }

  async start(): Promise<void> {
    const argv = buildBabeldArgv({ ...this.spec, interfaces: [] });
    this.unsubscribe = this.deps.supervisor.on((ev) => {
      if (ev.kind === 'child-started' && ev.name === BABELD_CHILD && ev.restarts > 0) void this.restoreInterfaces();
    });
    this.deps.supervisor.start({ name: BABELD_CHILD, argv }, { onLine: (line) => this.deps.log.debug({ child: BABELD_CHILD, line }, 'babeld') });
    // The first request waits (with retries) until babeld's socket answers.
    await this.client.configure(defaultHelloLine(this.helloSec));
    this.monitorDone = this.runMonitor();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    // SIGTERM: babeld retracts its routes before exiting.
    await this.deps.supervisor.stop(BABELD_CHILD);
    this.monitorAbort.abort();
    this.client.close();
    await this.monitorDone;
  }

  async addInterface(ifName: string): Promise<void> {
    if (this.stopped) return;
    const known = this.interfaces.get(ifName);
    if (!known) this.interfaces.set(ifName, { draining: false });
    if (known?.draining || known?.suspended) return;
    await this.client.configure(interfaceLine(ifName, this.helloSec));
  }

  async removeInterface(ifName: string): Promise<void> {
    if (this.stopped) return;
    if (!this.interfaces.delete(ifName)) return;
    await this.client.configure(flushInterfaceLine(ifName));
  }

  /**
   * Link liveness lost the tunnel: babeld forgets the interface now (its routes
   * are retracted and others chosen at once) but it stays wanted for resume.
   */
  async suspendInterface(ifName: string): Promise<void> {
    const known = this.interfaces.get(ifName);
    if (this.stopped || !known || known.suspended) return;
    known.suspended = true;
    await this.client.configure(flushInterfaceLine(ifName));
  }

  /** Hellos came back: babel runs on the interface again (with the drain cost if it was draining). */
  async resumeInterface(ifName: string): Promise<void> {
    const known = this.interfaces.get(ifName);
    if (this.stopped || !known?.suspended) return;
    known.suspended = false;
    await this.client.configure(known.draining ? drainInterfaceLine(ifName, this.helloSec) : interfaceLine(ifName, this.helloSec));
  }

  async raiseCost(ifName: string): Promise<void> {
    if (this.stopped) return;
    const suspended = this.interfaces.get(ifName)?.suspended === true;
    this.interfaces.set(ifName, { draining: true, suspended });
    if (suspended) return; // not in babeld now; the drain cost applies on resume
    // babeld 1.12 applies a changed interface only when it is re-added (flush + interface).
    for (const line of reconfigureInterfaceLines(ifName, this.helloSec, { rxcost: DRAIN_RXCOST })) await this.client.configure(line);
  }

  routeCount(ifName: string): number {
    return this.counts.get(ifName) ?? 0;
  }

  /** The interface of babel's installed route to `prefix`, or null. */
  routeVia(prefix: string): string | null {
    for (const r of this.table.routes.values()) if (r.prefix === prefix && isUsableRoute(r)) return r.ifName;
    return null;
  }

  /** Undoes raiseCost: the interface is re-added with its normal cost (a drain given up). */
  async restoreCost(ifName: string): Promise<void> {
    const known = this.interfaces.get(ifName);
    if (this.stopped || !known?.draining) return;
    known.draining = false;
    if (known.suspended) return; // re-added with the normal cost on resume
    for (const line of reconfigureInterfaceLines(ifName, this.helloSec)) await this.client.configure(line);
  }

  /** Every route babel knows (installed or not), from the monitor. */
  routes(): Iterable<BabelRoute> {
    return this.table.routes.values();
  }

  /** Destinations whose installed route babel dropped in the last seconds, with that route. */
  recentlyDropped(): Map<string, LastRoute> {
    const out = new Map<string, LastRoute>();
    const nowMs = this.deps.clock.nowMs();
    for (const [prefix, r] of this.lastInstalled) {
      if (r.droppedAtMs !== null && nowMs - r.droppedAtMs <= DROPPED_ROUTE_MEMORY_MS) out.set(prefix, { ifName: r.ifName, metric: r.metric });
    }
    return out;
  }

  reachablePrefixes(): string[] {
    return reachablePrefixes(this.table).filter((p) => p !== this.spec.ownPrefix);
  }

  /** Sends a new hello interval to the running babeld: the default and every tunnel interface. */
  async setHelloInterval(helloSec: number, _ifNames: string[] = []): Promise<void> {
    const before = this.helloSec;
    this.helloSec = helloSec;
    try {
      await this.client.configure(defaultHelloLine(helloSec));
      for (const [ifName, state] of this.interfaces) {
        if (state.suspended) continue;
        for (const line of reconfigureInterfaceLines(ifName, helloSec, state.draining ? { rxcost: DRAIN_RXCOST } : {})) await this.client.configure(line);
      }
    } catch (err) {
      this.helloSec = before;
      throw err;
    }
    this.deps.log.info({ helloSec }, 'babel hello interval changed');
  }

  /**
   * Asks babeld to run the given settings. Resolves `{ applied: true }` once babeld runs them on
   * every interface, or `{ applied: false, pending }` when it did not confirm in time (the link keeps
   * re-sending until they hold). Never rejects for a slow babeld.
   */
  async reconfigure(slice: BabelSettings, options: { signal?: AbortSignal } = {}): Promise<{ applied: boolean; pending?: string }> {
    void options;
    if (slice.helloIntervalSec === this.helloSec) return { applied: true };
    try {
      await this.setHelloInterval(slice.helloIntervalSec);
      return { applied: true };
    } catch (err) {
      return { applied: false, pending: (err as Error).message };
    }
  }

  get helloIntervalSec(): number {
    return this.helloSec;
  }

  status(): { running: boolean; pid: number | null; routes: number; neighbours: number } {
    const pid = this.deps.supervisor.pid(BABELD_CHILD) ?? null;
    let routes = 0;
    for (const n of this.counts.values()) routes += n;
    const neighbours = [...this.table.neighbours.values()].filter(isUsableNeighbour).length;
    return { running: pid !== null, pid, routes, neighbours };
  }

  /** The interfaces as babeld reports them (for tests and status). */
  get tableView(): BabelTable {
    return this.table;
  }

  private async restoreInterfaces(): Promise<void> {
    try {
      await this.client.configure(defaultHelloLine(this.helloSec));
      for (const [ifName, state] of this.interfaces) {
        if (state.suspended) continue;
        await this.client.configure(state.draining ? drainInterfaceLine(ifName, this.helloSec) : interfaceLine(ifName, this.helloSec));
      }
      this.deps.log.info({ interfaces: [...this.interfaces.keys()] }, 'babeld restarted: tunnel interfaces added again');
    } catch (err) {
      this.deps.log.warn({ err }, 'cannot restore babel interfaces after a restart');
    }
  }

  private noteInstalled(prefix: string): void {
    let installed: BabelRoute | undefined;
    for (const r of this.table.routes.values()) if (r.prefix === prefix && isUsableRoute(r)) installed = r;
    const known = this.lastInstalled.get(prefix);
    if (installed) this.lastInstalled.set(prefix, { ifName: installed.ifName, metric: installed.metric, droppedAtMs: null });
    else if (known && known.droppedAtMs === null) known.droppedAtMs = this.deps.clock.nowMs();
  }

  private async runMonitor(): Promise<void> {
    try {
      for await (const ev of this.client.monitor({ signal: this.monitorAbort.signal })) {
        this.table = applyBabelEvent(this.table, ev);
        if (ev.kind === 'route' || ev.kind === 'reset') this.counts = routeCountsByInterface(this.table);
        if (ev.kind === 'route') this.noteInstalled(ev.route.prefix);
        if (ev.kind === 'unknown') this.deps.log.debug({ line: ev.line, reason: ev.reason }, 'babel line not understood');
      }
    } catch (err) {
      if (!this.monitorAbort.signal.aborted) this.deps.log.warn({ err }, 'babel monitor ended');
    }
  }
}
