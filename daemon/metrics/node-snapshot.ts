// What one scrape of the node's metrics reads, taken from the running parts in
// one go: the same sources the control API's status and tunnels views read. Pure
// data, so the metric definitions (node-metrics.ts) are tested against fakes.
import type { TunnelDirection, TunnelState } from '../control/protocol.js';

export interface NodeMetricsSnapshot {
  /** This node's prefix (null while the identity is not loaded). */
  prefix: string | null;
  nowMs: number;
  startedAtMs: number;
  tunnels: TunnelSample[];
  /** Link liveness per tunnel. */
  links: { peer: string; state: 'waiting' | 'alive' | 'lost'; flaps: number }[];
  /** Per-destination traffic (nftables), when measured. */
  destinations: { prefix: string; rxBytesPerSec: number; txBytesPerSec: number }[];
  /** Peer DB: last RTT per peer (only peers with one), and how many are live and dead. */
  rttMs: ReadonlyMap<string, number>;
  peers: { live: number; dead: number };
  babel: { running: boolean; answering: boolean; routes: number; neighbours: number } | null;
  registryLastContactMs: number | null;
  certificateNotAfterMs: number | null;
  /** Worst lateness of the daemon's timers in the last minute, ms. */
  eventLoopDelayMs: number;
}

export interface TunnelSample {
  peer: string;
  direction: TunnelDirection;
  state: TunnelState;
  /** The tunnel interface's byte counters at the last traffic sample; null before the first. */
  rxBytes: number | null;
  txBytes: number | null;
  /** Babel routes installed through it. */
  routes: number;
}

/**
 * The peers that get per-peer series: every peer we have a tunnel with, plus the
 * `topN` busiest other destinations. The label set stays bounded by the tunnel
 * limits plus topN, however many peers the network has.
 */
export function selectPeers(s: Pick<NodeMetricsSnapshot, 'tunnels' | 'destinations'>, topN: number): string[] {
  const chosen = new Set(s.tunnels.map((t) => t.peer));
  const others = s.destinations
    .filter((d) => !chosen.has(d.prefix))
    .sort((a, b) => b.rxBytesPerSec + b.txBytesPerSec - (a.rxBytesPerSec + a.txBytesPerSec) || (a.prefix < b.prefix ? -1 : 1));
  for (const d of others.slice(0, topN)) chosen.add(d.prefix);
  return [...chosen];
}
