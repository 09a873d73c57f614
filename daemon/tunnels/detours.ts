// Detour routes, pure: when a tunnel stops carrying traffic (its openvpn died,
// link liveness lost it, or it is drained), babel withdraws the routes through
// it, and for a destination whose other routes are not yet "feasible" babel
// first asks the source for a new sequence number (one or two hops of request
// and reply, 0.5-1 s at hello 1 s) — traffic is dropped meanwhile. A detour is a
// kernel route the daemon installs for that gap: same destination, through the
// best other neighbour babel already knows a route from, with a lower metric
// than babel's, removed once babel itself routes the destination elsewhere.
//
// Loop safety: a neighbour whose route to P went through us would advertise at
// least our metric plus one link cost (≥ 96 on a tunnel), so a route whose
// advertised metric (refmetric) is below our last metric for P plus most of a
// link cost certainly does not come back to us ("safe"). When no neighbour
// offers a safe route, the best other one is used anyway: if it did lead back
// through us, our babel's retraction (sent at once when we lose the route)
// makes that neighbour choose another way within a fraction of a second, which
// is still sooner than babel's own repair.
import type { BabelRoute } from '../babel/parse.js';
import { INFINITE_METRIC } from '../babel/table.js';

/** Smallest babel link cost in the overlay (rxcost of a tunnel interface). */
export const MIN_LINK_COST = 96;
/** Slack for small differences between what we advertised and our metric now (RTT cost). */
const ADVERTISED_SLACK = 16;

export interface DetourRoute {
  prefix: string;
  /** The neighbour's link-local address. */
  via: string;
  ifName: string;
  /** The neighbour's route certainly does not lead back through us. */
  safe: boolean;
}

/** The last installed route babel had for a destination (kept after babel drops it). */
export interface LastRoute {
  ifName: string;
  metric: number;
}

export interface DetourPlan {
  detours: DetourRoute[];
  /** Destinations through the leaving interfaces with no safe other route yet (some may have an unsafe detour). */
  uncovered: string[];
}

/**
 * Detours for every destination whose installed (or, if babel already dropped
 * it, last installed) route goes through one of `leaving`. Routes through
 * `leaving` or `unusable` interfaces are never chosen.
 */
export function planDetours(
  routes: Iterable<BabelRoute>,
  lastInstalled: ReadonlyMap<string, LastRoute>,
  leaving: ReadonlySet<string>,
  options: { unusable?: ReadonlySet<string>; ownPrefix?: string } = {},
): DetourPlan {
  const byPrefix = new Map<string, BabelRoute[]>();
  for (const r of routes) {
    const list = byPrefix.get(r.prefix);
    if (list) list.push(r);
    else byPrefix.set(r.prefix, [r]);
  }
  const detours: DetourRoute[] = [];
  const uncovered: string[] = [];
  const prefixes = new Set([...byPrefix.keys(), ...lastInstalled.keys()]);
  for (const prefix of [...prefixes].sort()) {
    if (prefix === options.ownPrefix) continue;
    const candidates = byPrefix.get(prefix) ?? [];
    const installed = candidates.find((r) => r.installed && r.metric < INFINITE_METRIC);
    // What the destination's traffic uses now: babel's installed route, or the one it just dropped.
    const current: LastRoute | undefined = installed ? { ifName: installed.ifName, metric: installed.metric } : lastInstalled.get(prefix);
    if (!current || !leaving.has(current.ifName)) continue;
    const safeBelow = current.metric + MIN_LINK_COST - ADVERTISED_SLACK;
    let best: BabelRoute | undefined;
    let bestSafe = false;
    for (const r of candidates) {
      if (leaving.has(r.ifName) || options.unusable?.has(r.ifName)) continue;
      if (r.metric >= INFINITE_METRIC || r.refmetric >= INFINITE_METRIC || r.via === '' || r.via === '::') continue;
      const safe = r.refmetric < safeBelow;
      const better = !best || (safe && !bestSafe) || (safe === bestSafe && (r.metric < best.metric || (r.metric === best.metric && r.ifName < best.ifName)));
      if (better) {
        best = r;
        bestSafe = safe;
      }
    }
    if (best) detours.push({ prefix, via: best.via, ifName: best.ifName, safe: bestSafe });
    if (!bestSafe) uncovered.push(prefix);
  }
  return { detours, uncovered };
}

/**
 * Whether babel now routes `prefix` itself, not through a leaving interface:
 * then the detour can go (babel's route takes over in the kernel).
 */
export function babelRoutesAround(routes: Iterable<BabelRoute>, prefix: string, leaving: ReadonlySet<string>): boolean {
  for (const r of routes) {
    if (r.prefix === prefix && r.installed && r.metric < INFINITE_METRIC && r.via !== '' && !leaving.has(r.ifName)) return true;
  }
  return false;
}

/** `ip -6 -batch` lines that add (or replace) detours and remove them. */
export function detourAddLine(d: DetourRoute, spec: { metric: number; proto: number; src: string }): string {
  return `route replace ${d.prefix} via ${d.via} dev ${d.ifName} metric ${spec.metric} proto ${spec.proto} src ${spec.src}`;
}

export function detourDelLine(prefix: string, spec: { metric: number; proto: number }): string {
  return `route del ${prefix} metric ${spec.metric} proto ${spec.proto}`;
}
