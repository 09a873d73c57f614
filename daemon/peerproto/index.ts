// Public surface of the peer protocol (see docs/architecture.md, docs/peer-protocol.md).
export { PeerProtocol } from './protocol.js';
export type {
  HelloEvent,
  Incoming,
  NetworkConfigEvent,
  PeerAddress,
  PeerProtoClock,
  PeerProtocolDeps,
  PeerProtocolEvents,
  PeerProtocolOptions,
  PeerProtoLog,
  PeerProtoStats,
  PeerSource,
  RequestHandler,
  VerifiedPeerCert,
} from './protocol.js';
export { PeerProtoError, type PeerProtoCode } from './errors.js';
export { makePeerCertVerifier, type PeerCertVerifierDeps } from './cert.js';
export { dgramSocketFactory, type UdpEndpoint, type UdpSocket, type UdpSocketFactory } from './socket.js';
