// Answering another node's tunnel-request (we become the server end): whether
// to accept it (duplicates, crossed requests, a full node) and which UDP port
// of underlay.port+1 … underlay.port+max_clients the new openvpn end listens on.
import { createSocket } from 'node:dgram';
import type { TunnelDirection, TunnelState } from '../control/protocol.js';

export interface TunnelRequestContext {
  ownPrefix: string;
  /** The requesting peer. */
  peer: string;
  /** Our tunnel with the peer, if there is one. */
  existing?: { direction: TunnelDirection; state: TunnelState };
  /** We are asking the peer for a tunnel ourselves right now. */
  opening: boolean;
  /** Incoming tunnels we have (including `existing` when it is one). */
  incoming: number;
  maxClients: number;
}

export type TunnelRequestAnswer =
  | { kind: 'refuse'; reason: 'duplicate' | 'full' }
  /** Accept; close our existing tunnel with the peer first when `replace` says so. */
  | { kind: 'accept'; replace?: { reason: string; quiet: boolean } };

/**
 * Pure. When both sides open at once, the node with the lower prefix keeps its
 * outgoing tunnel; a peer that asks again for a tunnel we serve lost its end,
 * so ours is replaced.
 */
export function answerTunnelRequest(c: TunnelRequestContext): TunnelRequestAnswer {
  let replace: { reason: string; quiet: boolean } | undefined;
  if (c.existing?.direction === 'incoming') {
    replace = { reason: 'the peer asked for a new tunnel', quiet: false };
  } else if (c.existing) {
    if (c.existing.state === 'up' || c.ownPrefix < c.peer) return { kind: 'refuse', reason: 'duplicate' };
    replace = { reason: 'crossed with an incoming tunnel request', quiet: true };
  } else if (c.opening && c.ownPrefix < c.peer) {
    return { kind: 'refuse', reason: 'duplicate' };
  }
  const incoming = c.incoming - (c.existing?.direction === 'incoming' ? 1 : 0);
  if (incoming >= c.maxClients) return { kind: 'refuse', reason: 'full' };
  return replace ? { kind: 'accept', replace } : { kind: 'accept' };
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
