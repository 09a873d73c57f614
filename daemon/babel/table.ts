// The routing state a monitor or dump describes, as a pure fold over parsed events.
import type { BabelEvent, BabelInterface, BabelNeighbour, BabelRoute, BabelXroute } from './parse.js';

export interface BabelTable {
  readonly interfaces: ReadonlyMap<string, BabelInterface>;
  readonly neighbours: ReadonlyMap<string, BabelNeighbour>;
  readonly routes: ReadonlyMap<string, BabelRoute>;
  readonly xroutes: ReadonlyMap<string, BabelXroute>;
}

/** babeld's "infinite" metric: unreachable or retracted. */
export const INFINITE_METRIC = 65535;

export function emptyBabelTable(): BabelTable {
  return { interfaces: new Map(), neighbours: new Map(), routes: new Map(), xroutes: new Map() };
}

/** Sets an entry, or removes it when `value` is undefined (a flush). */
export function putEntry<V>(map: Map<string, V>, key: string, value: V | undefined): void {
  if (value === undefined) map.delete(key);
  else map.set(key, value);
}

/** Events that change an entry of the table (the others, e.g. `ok`, leave it as it is). */
const TABLE_EVENTS: ReadonlySet<BabelEvent['kind']> = new Set(['reset', 'interface', 'neighbour', 'route', 'xroute']);

/** Returns the table after one event (the input is not modified; an event that changes nothing returns it). */
export function applyBabelEvent(table: BabelTable, ev: BabelEvent): BabelTable {
  return TABLE_EVENTS.has(ev.kind) ? foldBabelEvents([ev], table) : table;
}

/**
 * The table after all `events`. The maps are copied once and changed in place:
 * a copy per event made a `dump` of n lines cost n² (512 routes
 * at 64 nodes, every verification).
 */
export function foldBabelEvents(events: Iterable<BabelEvent>, table: BabelTable = emptyBabelTable()): BabelTable {
  const t = { interfaces: new Map(table.interfaces), neighbours: new Map(table.neighbours), routes: new Map(table.routes), xroutes: new Map(table.xroutes) };
  for (const ev of events) {
    switch (ev.kind) {
      case 'reset':
        for (const m of [t.interfaces, t.neighbours, t.routes, t.xroutes] as Array<Map<string, unknown>>) m.clear();
        break;
      case 'interface':
        putEntry(t.interfaces, ev.interface.name, ev.action === 'flush' ? undefined : ev.interface);
        break;
      case 'neighbour':
        putEntry(t.neighbours, ev.neighbour.id, ev.action === 'flush' ? undefined : ev.neighbour);
        break;
      case 'route':
        putEntry(t.routes, ev.route.id, ev.action === 'flush' ? undefined : ev.route);
        break;
      case 'xroute':
        putEntry(t.xroutes, ev.xroute.id, ev.action === 'flush' ? undefined : ev.xroute);
        break;
      default:
        break;
    }
  }
  return t;
}

/** A route that actually carries traffic: installed, finite metric, through a neighbour. */
export function isUsableRoute(r: BabelRoute): boolean {
  return r.installed && r.metric < INFINITE_METRIC && r.via !== '' && r.via !== '::';
}

/** Number of usable installed routes per interface (the tunnel's "routes" in scoring). */
export function routeCountsByInterface(table: BabelTable): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of table.routes.values()) {
    if (isUsableRoute(r)) counts.set(r.ifName, (counts.get(r.ifName) ?? 0) + 1);
  }
  return counts;
}

/** Neighbours sorted by interface then address. */
export function neighbourList(table: BabelTable): BabelNeighbour[] {
  return [...table.neighbours.values()].sort((a, b) => a.ifName.localeCompare(b.ifName) || a.address.localeCompare(b.address));
}

/** A neighbour babel can use (finite cost). */
export function isUsableNeighbour(n: BabelNeighbour): boolean {
  return n.cost < INFINITE_METRIC;
}

/** Prefixes reachable through usable routes, sorted. */
export function reachablePrefixes(table: BabelTable): string[] {
  return [...new Set([...table.routes.values()].filter(isUsableRoute).map((r) => r.prefix))].sort();
}
