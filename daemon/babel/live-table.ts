// babeld's routing table as its monitor session reports it, with the views the
// daemon reads: route counts per tunnel, the route to a prefix, reachable
// prefixes, and routes babel dropped in the last seconds (for detours).
import type { Clock } from '../sys/clock.js';
import type { LastRoute } from '../tunnels/detours.js';
import type { BabelEvent, BabelInterface, BabelNeighbour, BabelRoute, BabelXroute } from './parse.js';
import { isUsableNeighbour, isUsableRoute, putEntry, reachablePrefixes, type BabelTable } from './table.js';

/** How long a route babel dropped still counts as "what the traffic used" for detours. */
const DROPPED_ROUTE_MEMORY_MS = 5_000;

export class LiveBabelTable {
  // Updated in place: babeld reports tens of changes a second on an idle node
  // (more as the network grows), and a copy of the route map per change was the
  // largest part of the monitor's cost and of the daemon's garbage.
  private readonly interfaces = new Map<string, BabelInterface>();
  private readonly neighbours = new Map<string, BabelNeighbour>();
  private readonly routesById = new Map<string, BabelRoute>();
  private readonly xroutes = new Map<string, BabelXroute>();
  private readonly current: BabelTable = { interfaces: this.interfaces, neighbours: this.neighbours, routes: this.routesById, xroutes: this.xroutes };
  /** Usable routes per interface, kept as routes come and go. */
  private readonly counts = new Map<string, number>();
  /** Route ids per destination prefix, so a change looks only at that prefix's routes. */
  private readonly idsByPrefix = new Map<string, Set<string>>();
  /** Per destination, the route babel installed last; droppedAtMs once it has none installed. */
  private readonly lastInstalled = new Map<string, LastRoute & { droppedAtMs: number | null }>();

  constructor(private readonly clock: Pick<Clock, 'nowMs'>) {}

  /** The live table: it changes as events are applied (copy what must stay as it is). */
  get table(): BabelTable {
    return this.current;
  }

  apply(ev: BabelEvent): void {
    switch (ev.kind) {
      case 'reset':
        this.interfaces.clear();
        this.neighbours.clear();
        this.routesById.clear();
        this.xroutes.clear();
        this.counts.clear();
        this.idsByPrefix.clear();
        return;
      case 'interface':
        return putEntry(this.interfaces, ev.interface.name, ev.action === 'flush' ? undefined : ev.interface);
      case 'neighbour':
        return putEntry(this.neighbours, ev.neighbour.id, ev.action === 'flush' ? undefined : ev.neighbour);
      case 'xroute':
        return putEntry(this.xroutes, ev.xroute.id, ev.action === 'flush' ? undefined : ev.xroute);
      case 'route':
        this.applyRoute(ev.route, ev.action === 'flush');
        this.noteInstalled(ev.route.prefix);
        return;
      default:
        return;
    }
  }

  private applyRoute(route: BabelRoute, flush: boolean): void {
    const old = this.routesById.get(route.id);
    if (old && isUsableRoute(old)) this.count(old.ifName, -1);
    if (old && (flush || old.prefix !== route.prefix)) {
      const ids = this.idsByPrefix.get(old.prefix);
      ids?.delete(route.id);
      if (ids?.size === 0) this.idsByPrefix.delete(old.prefix);
    }
    if (flush) {
      this.routesById.delete(route.id);
      return;
    }
    this.routesById.set(route.id, route);
    if (isUsableRoute(route)) this.count(route.ifName, 1);
    let ids = this.idsByPrefix.get(route.prefix);
    if (!ids) this.idsByPrefix.set(route.prefix, (ids = new Set()));
    ids.add(route.id); // a known id keeps its place: the same order as the route map's
  }

  private count(ifName: string, delta: number): void {
    const n = (this.counts.get(ifName) ?? 0) + delta;
    if (n > 0) this.counts.set(ifName, n);
    else this.counts.delete(ifName);
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
    for (const id of this.idsByPrefix.get(prefix) ?? []) {
      const r = this.routesById.get(id);
      if (r && isUsableRoute(r)) return r.ifName;
    }
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
    for (const id of this.idsByPrefix.get(prefix) ?? []) {
      const r = this.routesById.get(id);
      if (r && isUsableRoute(r)) installed = r;
    }
    const known = this.lastInstalled.get(prefix);
    if (installed) this.lastInstalled.set(prefix, { ifName: installed.ifName, metric: installed.metric, droppedAtMs: null });
    else if (known && known.droppedAtMs === null) known.droppedAtMs = this.clock.nowMs();
  }
}
