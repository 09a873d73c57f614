// "Why not direct?" for one peer, pure: the path our traffic to it takes now (a
// tunnel of ours, through a neighbour's tunnel, or none) and, when it is not a
// direct tunnel, the reason in words from what the node knows: the peer DB's
// verdict and last failure, its retry, our tunnel slots, our NAT class.
import type { PeerRecord } from '../peers/peer-db.js';
import { classifyPeer } from '../peers/retry-policy.js';
import type { PeerPath } from './protocol.js';
import type { NatClass } from '../nat/classify.js';
import { impossibleWhy, pairing } from '../nat/punch.js';

export interface PathFacts {
  /** State of our tunnel with the peer, if any (either direction). */
  tunnel: { direction: 'outgoing' | 'incoming'; state: string } | undefined;
  /** The neighbour whose tunnel carries our route to the peer's prefix (undefined: babel has none). */
  via: string | undefined;
  /** Our outgoing tunnels and how many we keep. */
  outgoing: number;
  clientCount: number;
  /** This node's NAT class (daemon/nat), null when unknown. */
  natClass: string | null;
  /** The peer's NAT class as this node learned it (hole punching), when known. */
  peerNatClass?: string | null;
}

export function peerPath(peer: PeerRecord, facts: PathFacts, nowMs: number): PeerPath {
  if (facts.tunnel?.state === 'up') return { kind: 'direct', via: null, why: `${facts.tunnel.direction} tunnel up` };
  const path = facts.via !== undefined && facts.via !== peer.prefix ? { kind: 'via' as const, via: facts.via } : { kind: 'none' as const, via: null };
  return { ...path, why: whyNotDirect(peer, facts, nowMs) };
}

function whyNotDirect(peer: PeerRecord, facts: PathFacts, nowMs: number): string {
  if (facts.tunnel !== undefined) return `${facts.tunnel.direction} tunnel ${facts.tunnel.state}`;
  const standing = classifyPeer(peer, nowMs);
  if (standing === 'revoked') return `revoked: ${peer.deadReason ?? 'certificate revoked'}`;
  const self = facts.natClass as NatClass | null;
  const theirs = (facts.peerNatClass ?? null) as NatClass | null;
  if (pairing(self, theirs) === 'impossible') return `${impossibleWhy(self, theirs)}; traffic goes through the overlay`;
  if (peer.dead) return `dead: ${peer.deadReason ?? 'failed attempts'}; retried ${standing === 'dead-due' ? 'when no live peer is left' : 'later'}`;
  if (standing === 'backoff') return `last attempt: ${peer.lastFailure ?? 'failed'}; next try in ${Math.ceil((peer.retryAtMs - nowMs) / 1000)} s`;
  if (peer.addresses.length === 0) return 'no underlay address known';
  const behindNat = facts.natClass === 'apdm' || facts.natClass === 'eim' ? ` (this node is behind a NAT, ${facts.natClass}: it can only open tunnels, not receive them)` : '';
  if (facts.outgoing >= facts.clientCount) return `not chosen: all ${facts.clientCount} outgoing tunnels in use${behindNat}`;
  return peer.lastFailure !== null ? `not chosen yet; last attempt: ${peer.lastFailure}` : `not chosen yet${behindNat}`;
}
