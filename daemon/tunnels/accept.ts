// Answering another node's tunnel-request (we become the server end): whether
// to accept it (duplicates, crossed requests, a full node) and which UDP port
// of underlay.port+1 … underlay.port+max_clients the new openvpn end listens on.
import { createSocket } from 'node:dgram';
import type { TunnelDirection, TunnelState } from '../control/protocol.js';
import type { NatClass } from '../nat/classify.js';
import { acceptsTunnels, behindNatOnly } from '../nat/punch.js';

export interface TunnelRequestContext {
  ownPrefix: string;
  /** The requesting peer. */
  peer: string;
  /** Our tunnel with the peer, if there is one (`punched`: opened by hole punching). */
  existing?: { direction: TunnelDirection; state: TunnelState; punched?: boolean };
  /** The request is a punch request (hole punching), not a plain tunnel-request. */
  punch?: boolean;
  /** It came from an address on a LAN we share: no NAT lies between us. */
  overLan?: boolean;
  /** We are asking the peer for a tunnel ourselves right now. */
  opening: boolean;
  /** Incoming tunnels we have (including `existing` when it is one). */
  incoming: number;
  maxClients: number;
  /** Our NAT class now (null or absent: not known). */
  selfClass?: NatClass | null | undefined;
  /** The requester's NAT class as we know it (its punch messages, the registry). */
  peerClass?: NatClass | null | undefined;
}

export type TunnelRequestAnswer =
  /** 'unsupported': both behind endpoint-independent NATs; the requester should punch (told our class). */
  | { kind: 'refuse'; reason: 'duplicate' | 'full' | 'unsupported' }
  /** Accept; close our existing tunnel with the peer first when `replace` says so. */
  | { kind: 'accept'; replace?: { reason: string; quiet: boolean } };

/**
 * Pure. A peer that asks again for a tunnel we serve lost its end, so ours is
 * replaced; one we reach through our own tunnel, up, is a duplicate.
 *
 * Crossed requests (we are asking the peer too, or our outgoing tunnel to it is
 * not up yet): one end gives way, and ends that know the same classes decide
 * alike, so exactly one accepts. The server end should be the one that can take
 * tunnels (class public or upnp): a node behind a NAT without UPnP (eim, apdm)
 * as the server end is reached by nobody, and the tunnel is closed after its
 * start-up time and reopened the other way round. So a NATed node keeps its
 * outgoing attempt (refuses, 'duplicate') when the requester is known to be
 * public/upnp, and a public/upnp node gives its own attempt up (accepts) when
 * the requester is known to be behind a NAT. Otherwise (both or neither can
 * take tunnels, or a class is not known) the lower prefix keeps its outgoing
 * tunnel. When only the NATed end knows both classes and holds the higher
 * prefix, both refuse: no tunnel that cannot come up, and the next request, no
 * longer crossed, is answered like any other.
 *
 * Plain requests are refused by class only when both ends are known to be behind
 * endpoint-independent NATs (the requester says so in its request, since
 * session 8) and it did not come over a LAN we share: a direct tunnel between
 * them cannot come up, hole punching can, and the refusal tells the requester
 * our class so it punches at once. Other classes are not refused: a node with a
 * manual port forward is classified eim or apdm too, and it does take them.
 *
 * A punch request that finds our own direct attempt to the peer not up yet
 * replaces it: from behind a NAT it cannot come up where the peer has to punch.
 */
export function answerTunnelRequest(c: TunnelRequestContext): TunnelRequestAnswer {
  if (!c.punch && !c.overLan && c.selfClass === 'eim' && c.peerClass === 'eim' && c.existing?.state !== 'up') {
    return { kind: 'refuse', reason: 'unsupported' };
  }
  let replace: { reason: string; quiet: boolean } | undefined;
  if (c.existing?.direction === 'incoming') {
    replace = { reason: 'the peer asked for a new tunnel', quiet: false };
  } else if (c.existing) {
    if (c.existing.state === 'up') return { kind: 'refuse', reason: 'duplicate' };
    if (c.punch && c.existing.punched !== true) replace = { reason: 'our direct attempt gives way to the peer\'s hole punching', quiet: true };
    else if (keepsOurs(c)) return { kind: 'refuse', reason: 'duplicate' };
    else replace = { reason: 'crossed with an incoming tunnel request', quiet: true };
  } else if (c.opening && keepsOurs(c)) {
    return { kind: 'refuse', reason: 'duplicate' };
  }
  const incoming = c.incoming - (c.existing?.direction === 'incoming' ? 1 : 0);
  if (incoming >= c.maxClients) return { kind: 'refuse', reason: 'full' };
  return replace ? { kind: 'accept', replace } : { kind: 'accept' };
}

/** Crossed: whether our outgoing attempt stays (and the peer's request is refused). */
function keepsOurs(c: TunnelRequestContext): boolean {
  if (behindNatOnly(c.selfClass) && acceptsTunnels(c.peerClass)) return true;
  if (acceptsTunnels(c.selfClass) && behindNatOnly(c.peerClass)) return false;
  return c.ownPrefix < c.peer;
}

/** The first port of the tunnel range that no tunnel of ours uses and that binds now. */
export async function chooseServerPort(
  range: { underlayPort: number; maxClients: number },
  used: ReadonlySet<number>,
  isFree: (port: number) => Promise<boolean> = udpPortFree,
): Promise<number | undefined> {
  for (let i = 1; i <= range.maxClients; i++) {
    const port = range.underlayPort + i;
    if (used.has(port)) continue;
    if (await isFree(port)) return port;
  }
  return undefined;
}

/** Binds and releases a UDP port on all addresses: free now? */
export function udpPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket({ type: 'udp6', ipv6Only: false });
    s.once('error', () => {
      try {
        s.close();
      } catch {
        // never bound: nothing to close
      }
      resolve(false);
    });
    s.bind(port, '::', () => s.close(() => resolve(true)));
  });
}
