// The tunnels a node listed in its last heartbeat, read back from the store.
// They were validated on the way in (wire/registry-api.ts heartbeatSchema);
// this guard only keeps a damaged or hand-edited row from breaking a view,
// and is cheap enough to run over every stored tunnel of a page.
import { NAT_CLASSES, type NatClass } from '../wire/registry-api.js';

export interface TunnelReport {
  /** The far end's prefix. */
  peer: string;
  /** The reporting node's side: client = it opened the tunnel. */
  role: 'client' | 'server';
  rx_bytes: number;
  tx_bytes: number;
  /** Last RTT to the peer the node measured, ms; null when it has none. */
  rtt_ms: number | null;
}

const count = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0);

/** Well-formed reports only, in the order stored; unknown fields are dropped. */
export function tunnelReports(stored: readonly unknown[]): TunnelReport[] {
  const out: TunnelReport[] = [];
  for (const t of stored) {
    if (typeof t !== 'object' || t === null) continue;
    const r = t as Record<string, unknown>;
    if (typeof r.peer !== 'string' || (r.role !== 'client' && r.role !== 'server')) continue;
    const rtt = typeof r.rtt_ms === 'number' && Number.isFinite(r.rtt_ms) && r.rtt_ms >= 0 ? r.rtt_ms : null;
    out.push({ peer: r.peer, role: r.role, rx_bytes: count(r.rx_bytes), tx_bytes: count(r.tx_bytes), rtt_ms: rtt });
  }
  return out;
}

/** A stored NAT class, or null when absent or not one this version knows. */
export function storedNatClass(value: string | null): NatClass | null {
  return (NAT_CLASSES as readonly string[]).includes(value ?? '') ? (value as NatClass) : null;
}
