// What a verified LAN announcement changes in the peer DB, and which peers
// ours carries. The sender becomes a candidate peer with its LAN endpoints
// first (the dialler prefers addresses on a shared subnet anyway; the ones it
// knew from elsewhere stay behind them). The peers it passes on are stored
// only when new to us: they are signed by a node of our network, the same
// trust as a gossiped peer list, but never override what we know first-hand.
import type { PeerDb, PeerRecord } from '../peers/peer-db.js';
import { isPeerEndpoint } from '../sys/host-port.js';
import type { AnnouncedPeer } from './announcement.js';

export interface AdoptResult {
  /** The sender was not in the peer DB before. */
  created: boolean;
  /** Its LAN endpoints were not (all, in front) among its addresses before. */
  changed: boolean;
  /** Peers it passed on that we did not know. */
  learnedPeers: string[];
}

const MAX_ADDRESSES = 8;

export function adoptNeighbour(
  n: { prefix: string; serial: string; endpoints: readonly string[]; peers: readonly AnnouncedPeer[] },
  to: { self: string; peerDb: Pick<PeerDb, 'getPeer' | 'upsertPeer'>; nowMs: number },
): AdoptResult {
  const endpoints = n.endpoints.filter(isPeerEndpoint);
  const before = to.peerDb.getPeer(n.prefix);
  const addresses = [...new Set([...endpoints, ...(before?.addresses ?? [])])].slice(0, MAX_ADDRESSES);
  const changed = !before || endpoints.some((e, i) => before.addresses[i] !== e);
  to.peerDb.upsertPeer({ prefix: n.prefix, addresses, source: 'lan', certSerial: n.serial }, to.nowMs);
  const learnedPeers: string[] = [];
  for (const p of n.peers) {
    if (p.prefix === to.self || p.prefix === n.prefix || to.peerDb.getPeer(p.prefix)) continue;
    const usableAddresses = p.addresses.filter(isPeerEndpoint);
    if (usableAddresses.length === 0) continue;
    to.peerDb.upsertPeer({ prefix: p.prefix, addresses: usableAddresses, source: 'peer' }, to.nowMs);
    learnedPeers.push(p.prefix);
  }
  return { created: !before, changed, learnedPeers };
}

/** A few live peers worth passing on: the ones that worked most recently first. */
export function peersToShare(peers: readonly PeerRecord[], count: number, exclude: ReadonlySet<string>): AnnouncedPeer[] {
  return peers
    .filter((p) => !p.dead && !exclude.has(p.prefix))
    .map((p) => ({ prefix: p.prefix, addresses: p.addresses.filter(isPeerEndpoint), at: p.lastSuccessMs ?? 0 }))
    .filter((p) => p.addresses.length > 0)
    .sort((a, b) => b.at - a.at)
    .slice(0, count)
    .map(({ prefix, addresses }) => ({ prefix, addresses }));
}
