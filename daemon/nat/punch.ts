// Hole punching, the pure parts: which pairs of NAT classes can get a direct
// tunnel and how (pairing), whether a punch request may be answered, and the
// words for event lines and "why not direct?". The exchange itself is in
// punch-session.ts; docs/peer-protocol.md has the messages.
//
// Why EIM + EIM works and nothing weaker does: both ends learn by STUN, from the
// very UDP port their openvpn will use, the external endpoint their NAT gives
// that port; with endpoint-independent mapping it is the same towards the peer.
// The server end sends first towards the client's endpoint, which opens its own
// NAT's filter (Linux conntrack filters by address and port even when the mapping
// is endpoint-independent) for the client's packets. With an address-and-port-
// dependent mapping on either side the endpoint learned by STUN is not the one
// the peer will see, so nothing can be aimed at it.
import { isPeerAddress } from '../../config/peer-address.js';
import { parseV4Endpoint } from '../sys/host-port.js';
import type { NatClass } from './classify.js';

/** What one node can do towards a peer, from both NAT classes (undefined: not known). */
export type Pairing =
  /** The peer accepts tunnels (public or UPnP): an ordinary tunnel-request. */
  | 'direct'
  /** Both behind endpoint-independent NATs without UPnP: a punch request over the overlay. */
  | 'punch'
  /** The peer cannot accept tunnels and no punch can reach it: it must open to us, or traffic goes through the overlay. */
  | 'impossible'
  /** Not enough known: try as before (an ordinary request). */
  | 'unknown';

/** The class says the node takes tunnel-requests from anywhere: a public address or a UPnP mapping. */
export function acceptsTunnels(c: NatClass | null | undefined): boolean {
  return c === 'public' || c === 'upnp';
}

/** The class says the node is behind a NAT without UPnP (it may still have a manual port forward). */
export function behindNatOnly(c: NatClass | null | undefined): boolean {
  return c === 'eim' || c === 'apdm';
}

export function pairing(self: NatClass | null | undefined, peer: NatClass | null | undefined): Pairing {
  if (acceptsTunnels(peer)) return 'direct';
  if (self === 'eim' && peer === 'eim') return 'punch';
  // A peer behind a NAT without UPnP takes no tunnel-request; it can punch only with another EIM.
  if (behindNatOnly(peer) && self !== null && self !== undefined && self !== 'unknown') return 'impossible';
  return 'unknown';
}

/** Why a pair cannot get a direct tunnel from our side, in words (for "why not direct?" and plan reasons). */
export function impossibleWhy(self: NatClass | null | undefined, peer: NatClass | null | undefined): string {
  if (self === 'apdm' && peer === 'apdm') return 'both behind port-randomising NATs (address-and-port-dependent mapping): hole punching cannot work';
  if (self === 'apdm' || peer === 'apdm') return `${self === 'apdm' ? 'this node is' : 'the peer is'} behind a port-randomising NAT and the other side is behind a NAT too: hole punching cannot work`;
  return `the peer is behind a NAT (${peer ?? 'unknown'}) without UPnP and cannot take tunnel requests: it opens tunnels to us instead`;
}

/** Why a punch request is refused (undefined: it may be served). */
export function punchRequestProblem(req: { endpoint: string; natClass: string }, selfClass: NatClass | null): string | undefined {
  if (selfClass !== 'eim') return `this node is ${selfClass ?? 'of unknown NAT class'}, not behind an endpoint-independent NAT`;
  if (req.natClass !== 'eim') return `the requester says it is ${req.natClass}, not behind an endpoint-independent NAT`;
  const host = parseV4Endpoint(req.endpoint)?.host;
  if (host === undefined) return `endpoint ${req.endpoint} is not IPv4 "IP:PORT" (the NAT probes are IPv4)`;
  if (!isPeerAddress(host)) return `endpoint ${req.endpoint} is not an address a peer can reach`;
  return undefined;
}

/** How long the whole exchange may take, from the request to the peer's answer. */
export const PUNCH_TIMEOUT_MS = 20_000;

export function punchTimedOutText(timeoutMs: number = PUNCH_TIMEOUT_MS): string {
  return `hole punch timed out (${Math.round(timeoutMs / 1000)} s)`;
}
