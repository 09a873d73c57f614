// The peer-protocol frame: a fixed envelope (version, kind, who, when, signature)
// followed by type-length-value items. Pure: bytes in, values out. This file and
// wire/messages.ts are the only places that know byte offsets.
//
//   0       1       2                      19                     36
//   +-------+-------+----------------------+----------------------+
//   |version| kind  | sender prefix (17)   | recipient prefix (17)|
//   +-------+-------+----------------------+----------------------+
//   36                      44              48      49
//   +-----------------------+---------------+-------+-------------+
//   | timestamp ms (u64)    | seq (u32)     |sig len| signature   |
//   +-----------------------+---------------+-------+-------------+
//   49 + sig len
//   +------+------------+---------------+------+------------+-----
//   | type | length u16 | value …       | type | length u16 | …
//   +------+------------+---------------+------+------------+-----
//
// - All integers are big-endian. A prefix is 1 byte of length then the 16-byte
//   network address (host bits must be zero); recipient length 0 with an all-zero
//   address means "whoever listens here" (a first hello to a bare address).
// - The authentication part is bytes 2..49+sig len: sender, recipient, timestamp,
//   seq and an ECDSA signature (P-256, IEEE-P1363, so 64 bytes). The signature
//   covers every byte of the frame except the signature field itself (and its
//   length byte): bytes [0, 48) followed by bytes [49 + sig len, end).
// - A frame is at most MAX_MESSAGE_BYTES (1280, the IPv6 minimum MTU), so a
//   message never needs IP fragmentation.
// - Items: type 0x00–0xef belong to the message kind, 0xf0–0xff are common to
//   every kind (see messages.ts). Unknown types are skipped; when a singular type
//   repeats, the first one counts. Fewer than 3 bytes after the last item (not
//   room for an item header) are ignored, and so are bytes after the fields this
//   version knows inside an item's value: newer nodes may append, older ones
//   survive.
import { isIPv4 } from 'node:net';
import { formatIpv6Address, parseIpv6Address, prefixMask } from '../config/ipv6.js';
import { WireDecodeError, WireEncodeError } from './errors.js';

export const WIRE_VERSION = 1;
export const MAX_MESSAGE_BYTES = 1280;
export const PREFIX_BYTES = 17;
export const ITEM_HEADER_BYTES = 3;
/** Bytes before the signature: version, kind, two prefixes, timestamp, seq, sig length. */
export const ENVELOPE_BYTES = 49;
/** ECDSA P-256 in IEEE-P1363 form (r ‖ s). */
export const SIGNATURE_BYTES = 64;

const OFF_KIND = 1;
const OFF_SENDER = 2;
const OFF_RECIPIENT = 19;
const OFF_TIMESTAMP = 36;
const OFF_SEQ = 44;
const OFF_SIG_LEN = 48;

export interface Envelope {
  kind: number;
  /** Sender's prefix, canonical CIDR text. */
  sender: string;
  /** Intended recipient's prefix; undefined = whoever listens at the address. */
  recipient: string | undefined;
  /** Sender's clock when the frame was made. */
  timestampMs: number;
  /** Sender's per-process message counter; (timestampMs, seq) never repeats. */
  seq: number;
}

export interface TlvItem {
  type: number;
  value: Buffer;
  /** Offset of `value` in the frame, for error reports (0 when encoding). */
  offset: number;
}

export interface DecodedFrame {
  version: number;
  envelope: Envelope;
  signature: Buffer;
  /** The exact bytes the signature covers. */
  signedData: Buffer;
  items: TlvItem[];
}

export type Signer = (data: Buffer) => Buffer;

export function item(type: number, value: Buffer): TlvItem {
  return { type, value, offset: 0 };
}

/** Builds a signed frame; throws WireEncodeError if it would exceed 1280 bytes. */
export function encodeFrame(envelope: Envelope, items: readonly TlvItem[], sign: Signer): Buffer {
  const head = Buffer.alloc(OFF_SIG_LEN);
  head.writeUInt8(WIRE_VERSION, 0);
  head.writeUInt8(checkUint(envelope.kind, 0xff, 'kind'), OFF_KIND);
  encodePrefixInto(envelope.sender, head, OFF_SENDER);
  if (envelope.recipient !== undefined) encodePrefixInto(envelope.recipient, head, OFF_RECIPIENT);
  head.writeBigUInt64BE(BigInt(checkUint(envelope.timestampMs, Number.MAX_SAFE_INTEGER, 'timestampMs')), OFF_TIMESTAMP);
  head.writeUInt32BE(checkUint(envelope.seq, 0xffffffff, 'seq'), OFF_SEQ);
  const body = encodeItems(items);
  const size = ENVELOPE_BYTES + SIGNATURE_BYTES + body.length;
  if (size > MAX_MESSAGE_BYTES) {
    throw new WireEncodeError('RN_WIRE_TOO_LARGE', `cannot encode peer message: ${size} bytes exceed ${MAX_MESSAGE_BYTES}. Split it into smaller messages.`, { size });
  }
  const signature = sign(Buffer.concat([head, body]));
  if (signature.length === 0 || signature.length > 0xff) {
    throw new WireEncodeError('RN_WIRE_BAD_FIELD', `cannot encode peer message: signature of ${signature.length} bytes`);
  }
  const frame = Buffer.concat([head, Buffer.from([signature.length]), signature, body]);
  if (frame.length > MAX_MESSAGE_BYTES) {
    throw new WireEncodeError('RN_WIRE_TOO_LARGE', `cannot encode peer message: ${frame.length} bytes exceed ${MAX_MESSAGE_BYTES}. Split it into smaller messages.`, { size: frame.length });
  }
  return frame;
}

export function encodeItems(items: readonly TlvItem[]): Buffer {
  const parts: Buffer[] = [];
  for (const it of items) {
    const header = Buffer.alloc(ITEM_HEADER_BYTES);
    header.writeUInt8(checkUint(it.type, 0xff, 'item type'), 0);
    header.writeUInt16BE(checkUint(it.value.length, 0xffff, 'item length'), 1);
    parts.push(header, it.value);
  }
  return Buffer.concat(parts);
}

/** Parses a frame's structure; does not check the signature (peerproto does). */
export function decodeFrame(frame: Buffer): DecodedFrame {
  if (frame.length > MAX_MESSAGE_BYTES) {
    throw new WireDecodeError('RN_WIRE_OVERSIZE', `peer message of ${frame.length} bytes exceeds ${MAX_MESSAGE_BYTES}`, { offset: MAX_MESSAGE_BYTES });
  }
  const r = new ValueReader(frame, 0, frame.length, undefined);
  const version = r.u8();
  if (version !== WIRE_VERSION) {
    throw new WireDecodeError('RN_WIRE_VERSION', `peer message version ${version} is not ${WIRE_VERSION}`, { offset: 0 });
  }
  const kind = r.u8();
  const sender = r.prefix();
  if (sender === undefined) throw new WireDecodeError('RN_WIRE_BAD_VALUE', 'peer message without a sender prefix', { offset: OFF_SENDER });
  const recipient = r.prefix();
  const timestampMs = r.u64();
  const seq = r.u32();
  const sigLen = r.u8();
  const signature = r.bytes(sigLen);
  const bodyStart = r.position;
  const items = decodeItems(frame, bodyStart);
  return {
    version,
    envelope: { kind, sender, recipient, timestampMs, seq },
    signature: Buffer.from(signature),
    signedData: Buffer.concat([frame.subarray(0, OFF_SIG_LEN), frame.subarray(bodyStart)]),
    items,
  };
}

function decodeItems(frame: Buffer, start: number): TlvItem[] {
  const items: TlvItem[] = [];
  let pos = start;
  while (frame.length - pos >= ITEM_HEADER_BYTES) {
    const type = frame.readUInt8(pos);
    const length = frame.readUInt16BE(pos + 1);
    const valueStart = pos + ITEM_HEADER_BYTES;
    if (valueStart + length > frame.length) {
      throw new WireDecodeError('RN_WIRE_TRUNCATED', `peer message item type ${type} claims ${length} bytes, ${frame.length - valueStart} left`, { offset: pos + 1, tlvType: type });
    }
    items.push({ type, value: frame.subarray(valueStart, valueStart + length), offset: valueStart });
    pos = valueStart + length;
  }
  return items;
}

/**
 * Bounds-checked cursor over one item's value (or the envelope). Every read that
 * would run past `end` throws WireDecodeError with the absolute offset.
 */
export class ValueReader {
  private pos: number;

  constructor(
    private readonly buf: Buffer,
    start: number,
    private readonly end: number,
    private readonly tlvType: number | undefined,
    /** Added to positions in errors, so they are offsets in the whole frame. */
    private readonly base = 0,
  ) {
    this.pos = start;
  }

  get position(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number, what: string): number {
    if (this.end - this.pos < n) {
      throw new WireDecodeError('RN_WIRE_TRUNCATED', `peer message truncated reading ${what}: need ${n} bytes, ${this.end - this.pos} left`, { offset: this.base + this.pos, tlvType: this.tlvType });
    }
    const at = this.pos;
    this.pos += n;
    return at;
  }

  fail(message: string, at: number = this.pos): never {
    throw new WireDecodeError('RN_WIRE_BAD_VALUE', message, { offset: this.base + at, tlvType: this.tlvType });
  }

  u8(): number {
    return this.buf.readUInt8(this.need(1, 'u8'));
  }

  u16(): number {
    return this.buf.readUInt16BE(this.need(2, 'u16'));
  }

  u32(): number {
    return this.buf.readUInt32BE(this.need(4, 'u32'));
  }

  u64(): number {
    const at = this.need(8, 'u64');
    const value = this.buf.readBigUInt64BE(at);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`integer ${value} is too large`, at);
    return Number(value);
  }

  bytes(n: number): Buffer {
    const at = this.need(n, `${n} bytes`);
    return this.buf.subarray(at, at + n);
  }

  rest(): Buffer {
    return this.bytes(this.remaining);
  }

  /** 17-byte prefix; undefined for the "anyone" form (length 0, zero address). */
  prefix(): string | undefined {
    const at = this.need(PREFIX_BYTES, 'prefix');
    const length = this.buf.readUInt8(at);
    const address = bigFromBytes(this.buf.subarray(at + 1, at + PREFIX_BYTES));
    if (length > 128) this.fail(`prefix length ${length} exceeds 128`, at);
    if ((address & ~prefixMask(length)) !== 0n) this.fail('prefix has host bits set', at);
    if (length === 0) {
      return undefined;
    }
    return `${formatIpv6Address(address)}/${length}`;
  }

  /** Endpoint: family (4|6), address, port → "IP:PORT" / "[IPv6]:PORT". */
  endpoint(): string {
    const at = this.pos;
    const family = this.u8();
    if (family === 4) {
      const ip = this.bytes(4);
      return `${ip[0]}.${ip[1]}.${ip[2]}.${ip[3]}:${this.u16()}`;
    }
    if (family === 6) {
      const ip = bigFromBytes(this.bytes(16));
      return `[${formatIpv6Address(ip)}]:${this.u16()}`;
    }
    return this.fail(`unknown address family ${family}`, at);
  }
}

export function u8(value: number): Buffer {
  return Buffer.from([checkUint(value, 0xff, 'u8')]);
}

export function u16(value: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(checkUint(value, 0xffff, 'u16'));
  return b;
}

export function u32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(checkUint(value, 0xffffffff, 'u32'));
  return b;
}

export function u64(value: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(checkUint(value, Number.MAX_SAFE_INTEGER, 'u64')));
  return b;
}

export function prefixBytes(prefix: string): Buffer {
  const b = Buffer.alloc(PREFIX_BYTES);
  encodePrefixInto(prefix, b, 0);
  return b;
}

/** "1.2.3.4:1194" or "[fd00::1]:1194" → 7 or 19 bytes. */
export function endpointBytes(text: string): Buffer {
  const { host, port } = splitHostPort(text);
  if (isIPv4(host)) {
    const b = Buffer.alloc(7);
    b.writeUInt8(4, 0);
    host.split('.').forEach((octet, i) => b.writeUInt8(Number(octet), 1 + i));
    b.writeUInt16BE(port, 5);
    return b;
  }
  const b = Buffer.alloc(19);
  b.writeUInt8(6, 0);
  bigIntoBytes(parseIpv6Address(host), b, 1);
  b.writeUInt16BE(port, 17);
  return b;
}

/** Splits "IP:PORT" (IPv6 in brackets); throws WireEncodeError if it is not one. */
export function splitHostPort(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|(\d{1,3}(?:\.\d{1,3}){3})):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  const host = m ? (m[1] ?? m[2] ?? '') : '';
  const validHost = m !== null && (m[1] !== undefined ? isIpv6Text(host) : isIPv4(host));
  if (!validHost || !(port >= 1 && port <= 0xffff)) {
    throw new WireEncodeError('RN_WIRE_BAD_FIELD', `not an "IP:PORT" address: "${text}" (IPv6 goes in brackets: "[fd00::1]:1194")`);
  }
  return { host, port };
}

function isIpv6Text(host: string): boolean {
  try {
    parseIpv6Address(host);
    return true;
  } catch {
    return false;
  }
}

function encodePrefixInto(prefix: string, out: Buffer, at: number): void {
  const slash = prefix.indexOf('/');
  const length = Number(prefix.slice(slash + 1));
  let address: bigint;
  try {
    address = parseIpv6Address(prefix.slice(0, slash));
  } catch (err) {
    throw new WireEncodeError('RN_WIRE_BAD_FIELD', `not an IPv6 prefix: "${prefix}"`, { cause: String(err) });
  }
  if (slash < 0 || !Number.isInteger(length) || length < 0 || length > 128 || (address & ~prefixMask(length)) !== 0n) {
    throw new WireEncodeError('RN_WIRE_BAD_FIELD', `not an IPv6 prefix: "${prefix}"`);
  }
  out.writeUInt8(length, at);
  bigIntoBytes(address, out, at + 1);
}

function checkUint(value: number, max: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new WireEncodeError('RN_WIRE_BAD_FIELD', `cannot encode ${what}: ${value} is not an integer in 0..${max}`);
  }
  return value;
}

function bigFromBytes(b: Buffer): bigint {
  let v = 0n;
  for (const byte of b) v = (v << 8n) | BigInt(byte);
  return v;
}

function bigIntoBytes(value: bigint, out: Buffer, at: number): void {
  for (let i = 15; i >= 0; i--) {
    out.writeUInt8(Number(value & 0xffn), at + i);
    value >>= 8n;
  }
}
