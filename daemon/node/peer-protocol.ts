// The peer protocol as the node runs it: frames signed with the node's key (link MACs
// derived from it), peers' certificates checked against the CA and the revocations of
// the network config in force. Built here; the hub starts it on the underlay port.
import type { Logger } from 'pino';
import { makePeerCertVerifier, PeerProtocol } from '../peerproto/index.js';
import type { Clock } from '../sys/clock.js';
import { peerSelf, type Identity } from './identity.js';
import type { NetworkConfigHolder } from './network-config.js';

export function nodePeerProtocol(identity: Identity, d: { clock: Clock; log: Logger; network: Pick<NetworkConfigHolder, 'revoked' | 'held'> }) {
  const verifyPeerCert = makePeerCertVerifier({ caPem: identity.caPem, clock: d.clock, revokedSerials: () => d.network.revoked });
  const peerproto = new PeerProtocol({ clock: d.clock, self: peerSelf(identity), verifyPeerCert, log: d.log, configVersion: () => d.network.held?.config.version });
  return { peerproto, verifyPeerCert };
}
