// Per-destination traffic, pure: per-address byte counters (sys/dest-traffic.ts)
// summed by the peer prefix that holds the address, as an EWMA of bytes/s. The
// planner reads these rates as `destinationTraffic` to turn a steady multi-hop
// flow into a direct tunnel.
import { parseIpv6Address, parsePrefix, prefixMask, type Ipv6Prefix } from '../../config/ipv6.js';
import { isUsableRoute, type BabelTable } from '../babel/table.js';
import type { DestinationTrafficView } from '../control/protocol.js';
import { DEFAULT_TRAFFIC_TAU_MS } from './score.js';

export interface DestinationRate {
  rxBytesPerSec: number;
  txBytesPerSec: number;
  /** rx + tx: what the planner compares. */
  bytesPerSec: number;
}

export interface DestinationRateState {
  atMs: number;
  /** The last reading, per address (canonical text). */
  counters: ReadonlyMap<string, { rxBytes: number; txBytes: number }>;
  /** Per destination prefix; prefixes whose rate decayed to nothing are dropped. */
  rates: ReadonlyMap<string, DestinationRate>;
}

/** Below this a rate with no new bytes is forgotten (keeps the map bounded). */
const FORGET_BELOW_BYTES_PER_SEC = 1;

/**
 * Folds one reading. Bytes are counted per address as the counter's growth
 * since the last reading; an address that is new, or whose counter went
 * backwards (its set element expired and came back), counts its whole counter,
 * since the element was created after the last reading. Addresses outside every
 * given prefix are ignored; an address in several counts for the longest prefix.
 * A destination's rate starts at 0 and rises with the EWMA weight, so a short
 * burst does not look like steady traffic. The first reading is only a baseline.
 */
export function updateDestinationRates(
  prev: DestinationRateState | undefined,
  counters: ReadonlyMap<string, { rxBytes: number; txBytes: number }>,
  prefixes: readonly string[],
  nowMs: number,
  tauMs = DEFAULT_TRAFFIC_TAU_MS,
): DestinationRateState {
  if (prev === undefined) return { atMs: nowMs, counters: new Map(counters), rates: new Map() };
  const dtMs = nowMs - prev.atMs;
  if (dtMs <= 0) return prev;

  const index = indexPrefixes(prefixes);
  const delta = new Map<string, { rx: number; tx: number }>();
  for (const [address, now] of counters) {
    const prefix = longestMatch(index, address);
    if (prefix === undefined) continue;
    const before = prev.counters.get(address);
    const grew = (cur: number, old: number | undefined): number => (old !== undefined && cur >= old ? cur - old : cur);
    const d = delta.get(prefix) ?? { rx: 0, tx: 0 };
    d.rx += grew(now.rxBytes, before?.rxBytes);
    d.tx += grew(now.txBytes, before?.txBytes);
    delta.set(prefix, d);
  }

  const weight = 1 - Math.exp(-dtMs / tauMs);
  const rates = new Map<string, DestinationRate>();
  const known = new Set(index.flatMap((x) => [...x.byNetwork.values()]));
  for (const prefix of new Set([...prev.rates.keys(), ...delta.keys()])) {
    if (!known.has(prefix)) continue; // no longer a peer
    const old = prev.rates.get(prefix) ?? { rxBytesPerSec: 0, txBytesPerSec: 0, bytesPerSec: 0 };
    const d = delta.get(prefix) ?? { rx: 0, tx: 0 };
    const rx = old.rxBytesPerSec + weight * ((d.rx * 1000) / dtMs - old.rxBytesPerSec);
    const tx = old.txBytesPerSec + weight * ((d.tx * 1000) / dtMs - old.txBytesPerSec);
    if (d.rx + d.tx === 0 && rx + tx < FORGET_BELOW_BYTES_PER_SEC) continue;
    rates.set(prefix, { rxBytesPerSec: rx, txBytesPerSec: tx, bytesPerSec: rx + tx });
  }
  return { atMs: nowMs, counters: new Map(counters), rates };
}

/** The planner's input: destination prefix → bytes/s. */
export function destinationTrafficMap(rates: ReadonlyMap<string, DestinationRate>): Map<string, number> {
  return new Map([...rates].map(([prefix, r]) => [prefix, r.bytesPerSec]));
}

/**
 * Destination prefix → the peer whose tunnel carries our installed babel route
 * to it (the planner's destinationVia). Routes over other interfaces are left out.
 */
export function routeCarriers(routes: BabelTable['routes'], tunnels: Iterable<{ peer: string; ifName: string }>): Map<string, string> {
  const byIf = new Map([...tunnels].map((t) => [t.ifName, t.peer]));
  const out = new Map<string, string>();
  for (const r of routes.values()) {
    const peer = isUsableRoute(r) ? byIf.get(r.ifName) : undefined;
    if (peer !== undefined) out.set(r.prefix, peer);
  }
  return out;
}

/** Rows for `resilnet tunnels --json` (destinations), busiest first. */
export function destinationViews(rates: ReadonlyMap<string, DestinationRate>, via: ReadonlyMap<string, string>): DestinationTrafficView[] {
  return [...rates]
    .sort((a, b) => b[1].bytesPerSec - a[1].bytesPerSec || (a[0] < b[0] ? -1 : 1))
    .map(([prefix, r]) => ({ prefix, rxBytesPerSec: Math.round(r.rxBytesPerSec), txBytesPerSec: Math.round(r.txBytesPerSec), via: via.get(prefix) ?? null }));
}

/** Prefixes by length (longest first), each a map network → text: one lookup per distinct length. */
type PrefixIndex = Array<{ mask: bigint; byNetwork: Map<bigint, string> }>;

function indexPrefixes(prefixes: readonly string[]): PrefixIndex {
  const byLength = new Map<number, Map<bigint, string>>();
  for (const text of prefixes) {
    let prefix: Ipv6Prefix;
    try {
      prefix = parsePrefix(text);
    } catch {
      continue; // a malformed peer prefix cannot hold any address
    }
    const m = byLength.get(prefix.length) ?? new Map<bigint, string>();
    m.set(prefix.address, text);
    byLength.set(prefix.length, m);
  }
  return [...byLength].sort((a, b) => b[0] - a[0]).map(([length, byNetwork]) => ({ mask: prefixMask(length), byNetwork }));
}

function longestMatch(index: PrefixIndex, address: string): string | undefined {
  let value: bigint;
  try {
    value = parseIpv6Address(address);
  } catch {
    return undefined;
  }
  for (const { mask, byNetwork } of index) {
    const hit = byNetwork.get(value & mask);
    if (hit !== undefined) return hit;
  }
  return undefined;
}
