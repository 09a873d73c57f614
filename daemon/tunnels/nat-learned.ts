// What our own NAT class, once learned, says about the tunnels asked for before
// it was known (pure). At start a node learns its class some seconds after its
// first tunnel requests went out (the first NAT check waits for the registry's
// view). A request from behind a NAT without UPnP to a peer behind one too
// crosses both NATs (the peer-protocol ports' mappings are open), the peer
// accepts, and our openvpn's packets never reach its server end: without this,
// the attempt waits out the whole connect time-out (30 s) before punching.
import type { NatClass } from '../nat/classify.js';
import { acceptsTunnels, behindNatOnly } from '../nat/punch.js';

export interface PendingTunnel {
  peer: string;
  direction: 'outgoing' | 'incoming';
  everUp: boolean;
  punched: boolean;
  state: string;
  /** When openvpn last reported a handshake step (null: it never heard from the far end). */
  handshakeAtMs: number | null;
  /** The server end's underlay "HOST:PORT" (client ends). */
  remote: string | null;
  openedAtMs: number;
}

/** Never up, never a handshake step (nothing came back through the NATs), not punched, not draining. */
function unreached(t: PendingTunnel): boolean {
  return !t.everUp && !t.punched && t.state !== 'draining' && t.handshakeAtMs === null;
}

/** A server end that heard nothing from its client for this long was not reached (a client that can reach it does within a second or two). */
export const UNREACHED_SERVER_END_MS = 2_000;

/**
 * The outgoing tunnels to give up now that we know we are behind a NAT without
 * UPnP (eim, apdm): never up, never a handshake step (nothing came back through
 * the NATs), not punched, not over a LAN we share with the peer, to a peer not
 * known to take tunnels (public, upnp: those come up by themselves), and that
 * the overlay reaches already: the punch request travels over it (a peer whose
 * only tunnels are server ends behind its own NAT is reached by nothing yet, and
 * a punch would fail at once). Their next attempt punches, or learns from the
 * peer's answer why it cannot. Any other class gives up nothing.
 */
export function directAttemptsToGiveUp(
  selfClass: NatClass,
  tunnels: readonly PendingTunnel[],
  peer: { natClass: (prefix: string) => NatClass | null | undefined; onSharedLan: (remote: string) => boolean; reachable: (prefix: string) => boolean },
): string[] {
  if (!behindNatOnly(selfClass)) return [];
  return tunnels
    .filter((t) => t.direction === 'outgoing' && unreached(t))
    .filter((t) => !(t.remote !== null && peer.onSharedLan(t.remote)) && !acceptsTunnels(peer.natClass(t.peer)) && peer.reachable(t.peer))
    .map((t) => t.peer);
}

/**
 * The server ends to give up now that we know we are behind a NAT without UPnP:
 * never up, never a handshake step, not punched, older than
 * UNREACHED_SERVER_END_MS. Our own requests replace them (with our class, so a
 * public peer whose request crossed ours gives way, and a NATed one tells us to
 * punch). A LAN client or a manual port forward makes its handshake within that
 * time, and is kept.
 */
export function serverEndsToGiveUp(selfClass: NatClass, tunnels: readonly PendingTunnel[], nowMs: number): string[] {
  if (!behindNatOnly(selfClass)) return [];
  return tunnels
    .filter((t) => t.direction === 'incoming' && unreached(t))
    .filter((t) => nowMs - t.openedAtMs >= UNREACHED_SERVER_END_MS)
    .map((t) => t.peer);
}
