// Errors of the peer-protocol codec. A decoder must never let a RangeError from a
// Buffer read escape: every failure is a WireDecodeError with the offset of the
// byte that broke it and the TLV type being read (undefined in the envelope), so
// the receive path can drop and count a datagram without guessing.
import { ResilnetError } from '../config/errors.js';

export type WireDecodeCode =
  | 'RN_WIRE_TRUNCATED' // a field runs past the end of the datagram
  | 'RN_WIRE_OVERSIZE' // datagram larger than MAX_MESSAGE_BYTES
  | 'RN_WIRE_VERSION' // frame version this node does not speak
  | 'RN_WIRE_UNKNOWN_KIND' // message kind this node does not know
  | 'RN_WIRE_BAD_VALUE' // a field has an impossible value (length, address family, prefix…)
  | 'RN_WIRE_MISSING_FIELD'; // a mandatory TLV item is absent

export class WireDecodeError extends ResilnetError {
  override readonly code: WireDecodeCode;
  readonly offset: number;
  readonly tlvType: number | undefined;

  constructor(code: WireDecodeCode, message: string, where: { offset: number; tlvType?: number | undefined }) {
    super(code, message, { details: { offset: where.offset, tlvType: where.tlvType } });
    this.name = 'WireDecodeError';
    this.code = code;
    this.offset = where.offset;
    this.tlvType = where.tlvType;
  }
}

export type WireEncodeCode =
  | 'RN_WIRE_TOO_LARGE' // the encoded message would exceed MAX_MESSAGE_BYTES
  | 'RN_WIRE_BAD_FIELD'; // a value cannot be encoded (out of range, not an IP:PORT…)

/** Thrown by encoders: a bug or bad input on the sending side, never a remote's fault. */
export class WireEncodeError extends ResilnetError {
  override readonly code: WireEncodeCode;

  constructor(code: WireEncodeCode, message: string, details?: Record<string, unknown>) {
    super(code, message, details === undefined ? {} : { details });
    this.name = 'WireEncodeError';
    this.code = code;
  }
}
