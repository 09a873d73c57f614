// babeld's routing table as its monitor session reports it, with the views the
// daemon reads: route counts per tunnel, the route to a prefix, reachable
// prefixes, and routes babel dropped in the last seconds (for detours).
import type { Clock } from '../sys/clock.js';
import type { LastRoute } from '../tunnels/detours.js';
import type { BabelEvent, BabelRoute } from './parse.js';
import { applyBabelEvent, emptyBabelTable, isUsableNeighbour, isUsableRoute, reachablePrefixes, routeCountsByInterface, type BabelTable } from './table.js';

/** How long a route babel dropped still counts as "what the traffic used" for detours. */
const DROPPED_ROUTE_MEMORY_MS = 5_000;

export class LiveBabelTable {
  private current: BabelTable = emptyBabelTable();
  private counts = new Map<string, number>();
  /** Per destination, the route babel installed last; droppedAtMs once it has none installed. */
  private readonly lastInstalled = new Map<string, LastRoute & { droppedAtMs: number | null }>();

  constructor(private readonly clock: Pick<Clock, 'nowMs'>) {}

  get table(): BabelTable {
    return this.current;
  }

  apply(ev: BabelEvent): void {
    this.current = applyBabelEvent(this.current, ev);
    if (ev.kind === 'route' || ev.kind === 'reset') this.counts = routeCountsByInterface(this.current);
    if (ev.kind === 'route') this.noteInstalled(ev.route.prefix);
  }

  routeCount(ifName: string): number {
    return this.counts.get(ifName) ?? 0;
  }

  totalRoutes(): number {
    let routes = 0;
    for (const n of this.counts.values()) routes += n;
    return routes;
  }

  usableNeighbours(): number {
    return [...this.current.neighbours.values()].filter(isUsableNeighbour).length;
  }

  /** The interface of babel's installed route to `prefix`, or null. */
  routeVia(prefix: string): string | null {
    for (const r of this.current.routes.values()) if (r.prefix === prefix && isUsableRoute(r)) return r.ifName;
    return null;
  }

  routes(): Iterable<BabelRoute> {
    return this.current.routes.values();
  }

  /** Destinations whose installed route babel dropped in the last seconds, with that route. */
  recentlyDropped(): Map<string, LastRoute> {
    const out = new Map<string, LastRoute>();
    const nowMs = this.clock.nowMs();
    for (const [prefix, r] of this.lastInstalled) {
      if (r.droppedAtMs !== null && nowMs - r.droppedAtMs <= DROPPED_ROUTE_MEMORY_MS) out.set(prefix, { ifName: r.ifName, metric: r.metric });
    }
    return out;
  }

  reachablePrefixes(except: string): string[] {
    return reachablePrefixes(this.current).filter((p) => p !== except);
  }

  private noteInstalled(prefix: string): void {
    let installed: BabelRoute | undefined;
    for (const r of this.current.routes.values()) if (r.prefix === prefix && isUsableRoute(r)) installed = r;
    const known = this.lastInstalled.get(prefix);
    if (installed) this.lastInstalled.set(prefix, { ifName: installed.ifName, metric: installed.metric, droppedAtMs: null });
    else if (known && known.droppedAtMs === null) known.droppedAtMs = this.clock.nowMs();
  }
}
