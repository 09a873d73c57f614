// Gossip as the node runs it: peer lists exchanged over the peer protocol every
// TIMING.gossipMs, and the network config this node holds offered to adjacent peers
// (a newer one from a peer goes to the holder, which verifies it).
import { Gossip, type GossipDeps } from '../gossip.js';
import { TIMING } from '../settings.js';
import type { NetworkConfigHolder } from './network-config.js';

/** Peers per peer list sent. */
const PEER_LIST_COUNT = 32;

export function startNodeGossip(
  own: { ownPrefix: string; networkPrefix: string; port: number },
  d: Omit<GossipDeps, 'config' | 'onNetworkConfig'> & { network: Pick<NetworkConfigHolder, 'held' | 'offer'> },
): Gossip {
  const { network, ...deps } = d;
  const gossip = new Gossip(
    { ownPrefix: own.ownPrefix, networkPrefix: own.networkPrefix, defaultPort: own.port, intervalMs: TIMING.gossipMs, requestTimeoutMs: TIMING.peerRequestTimeoutMs, peerListCount: PEER_LIST_COUNT },
    {
      ...deps,
      config: () => ({ version: network.held!.config.version, signed: network.held!.signed }),
      onNetworkConfig: (signed, from) => network.offer(signed, `peer ${from}`),
    },
  );
  gossip.start();
  return gossip;
}
