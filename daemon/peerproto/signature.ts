// Frames carry ECDSA P-256 signatures either IEEE-P1363 encoded (r ‖ s, 64
// bytes, the wire format's preferred form) or DER (what pki/identity.ts
// signBytes makes). pki/identity.ts verifyBytes checks DER, so a P1363
// signature is re-encoded first. A P-256 DER signature is never 64 bytes long
// in practice (that needs r and s both 3+ bytes short), so the length decides.
import { SIGNATURE_BYTES } from '../../wire/tlv.js';

/** The signature as DER: P1363 (64 bytes) re-encoded, anything else as it is. */
export function derSignature(signature: Buffer): Buffer {
  if (signature.length !== SIGNATURE_BYTES) return signature;
  const half = SIGNATURE_BYTES / 2;
  const r = derInteger(signature.subarray(0, half));
  const s = derInteger(signature.subarray(half));
  return Buffer.concat([Buffer.from([0x30, r.length + s.length]), r, s]);
}

/** An unsigned big-endian number as a DER INTEGER (no leading zeros; a 0x00 before a high bit). */
function derInteger(value: Buffer): Buffer {
  let start = 0;
  while (start < value.length - 1 && value[start] === 0) start++;
  const digits = value.subarray(start);
  const body = digits[0]! >= 0x80 ? Buffer.concat([Buffer.from([0]), digits]) : digits;
  return Buffer.concat([Buffer.from([0x02, body.length]), body]);
}
