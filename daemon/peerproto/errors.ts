// Errors the peer protocol raises to its callers (never from the receive path,
// which drops and counts instead).
import { ResilnetError } from '../../config/errors.js';

export type PeerProtoCode =
  | 'RN_PEERPROTO_TIMEOUT' // no reply to a request in time
  | 'RN_PEERPROTO_BIND' // the UDP port could not be bound
  | 'RN_PEERPROTO_NOT_RUNNING' // send/request before start() or after stop()
  | 'RN_PEERPROTO_SEND'; // the socket refused a datagram

export class PeerProtoError extends ResilnetError {
  override readonly code: PeerProtoCode;

  constructor(code: PeerProtoCode, message: string, options: { cause?: unknown; hint?: string; details?: Record<string, unknown> } = {}) {
    super(code, message, options);
    this.name = 'PeerProtoError';
    this.code = code;
  }
}
