// Choosing bootstrap peers (pure): up to `count` random recently-seen nodes,
// never the caller, each with the addresses it can be reached at and its NAT
// class. Addresses no peer can use are skipped here too: a store from an older
// version may hold them. Nodes behind a NAT without UPnP (class eim or apdm) are
// not offered: they take no tunnel-request, so a newcomer given one would waste
// its first attempt; they open tunnels themselves and are found through those.
import { isPeerAddress } from '../config/peer-address.js';
import { formatEndpoint, parseEndpoint, type BootstrapPeer, type NatClass } from '../wire/registry-api.js';
import { storedNatClass } from './tunnel-reports.js';

export interface LiveNode {
  readonly prefix: string;
  readonly lastSeenMs: number;
  readonly port: number | null;
  readonly seenAddress: string | null;
  /** As reported in heartbeats: "IP" or "IP:PORT", best first. */
  readonly addresses: readonly { address: string; kind: string }[];
  /** As reported in heartbeats; null when the node did not say. */
  readonly natClass: string | null;
}

const KIND_ORDER: Record<string, number> = { public: 0, upnp: 1, configured: 2, internal: 3 };

/** The node's endpoints, best first: public/UPnP, then the address the registry saw, then internal. */
export function nodeEndpoints(node: LiveNode): string[] {
  const out: string[] = [];
  const add = (text: string) => {
    if (!out.includes(text)) out.push(text);
  };
  const sorted = [...node.addresses].sort((a, b) => (KIND_ORDER[a.kind] ?? 9) - (KIND_ORDER[b.kind] ?? 9));
  const withPort = (address: string): string | undefined => {
    const ep = parseEndpoint(address);
    if (!ep || !isPeerAddress(ep.ip)) return undefined;
    const port = ep.port ?? node.port;
    return port ? formatEndpoint(ep.ip, port) : undefined;
  };
  for (const a of sorted.filter((x) => x.kind !== 'internal')) {
    const ep = withPort(a.address);
    if (ep) add(ep);
  }
  if (node.seenAddress && node.port && isPeerAddress(node.seenAddress)) add(formatEndpoint(node.seenAddress, node.port));
  for (const a of sorted.filter((x) => x.kind === 'internal')) {
    const ep = withPort(a.address);
    if (ep) add(ep);
  }
  return out;
}

/** A node ready to be handed out: its endpoints computed once. */
export interface BootstrapCandidate {
  readonly prefix: string;
  readonly lastSeenMs: number;
  readonly endpoints: string[];
  /** Null when the node did not say or said something this version does not know. */
  readonly natClass: NatClass | null;
}

/** Classes of nodes that cannot take a tunnel-request: behind a NAT without a mapping. */
const UNREACHABLE: ReadonlySet<NatClass> = new Set(['eim', 'apdm']);

/** The nodes worth offering: reachable (or of unknown class) and with an endpoint. */
export function toCandidates(nodes: readonly LiveNode[]): BootstrapCandidate[] {
  const out: BootstrapCandidate[] = [];
  for (const n of nodes) {
    const natClass = storedNatClass(n.natClass);
    if (natClass !== null && UNREACHABLE.has(natClass)) continue;
    const endpoints = nodeEndpoints(n);
    if (endpoints.length > 0) out.push({ prefix: n.prefix, lastSeenMs: n.lastSeenMs, endpoints, natClass });
  }
  return out;
}

export function pickBootstrapPeers(
  candidates: readonly BootstrapCandidate[],
  opts: { callerPrefix: string; count: number; nowMs: number; offlineAfterMs: number; rand: () => number },
): BootstrapPeer[] {
  const pool = candidates.filter((n) => n.prefix !== opts.callerPrefix && opts.nowMs - n.lastSeenMs <= opts.offlineAfterMs);
  // Partial Fisher-Yates: the first `count` slots end up a uniform sample.
  const take = Math.min(opts.count, pool.length);
  for (let i = 0; i < take; i++) {
    const j = i + Math.floor(opts.rand() * (pool.length - i));
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, take).map((n) => ({
    prefix: n.prefix,
    addresses: n.endpoints,
    last_seen: new Date(n.lastSeenMs).toISOString(),
    ...(n.natClass !== null ? { nat_class: n.natClass } : {}),
  }));
}
