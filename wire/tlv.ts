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
//   seq and an authenticator that covers every byte of the frame except itself
//   (and its length byte): bytes [0, 48) followed by bytes [49 + sig len, end).
//   The version byte says which: 1 = an ECDSA signature (P-256, IEEE-P1363, so
//   64 bytes), 2 = a link MAC (HMAC-SHA256 under the key the two nodes share,
//   truncated to 16 bytes; daemon/peerproto/link-keys.ts).
// - A frame is at most MAX_MESSAGE_BYTES (1232): with the 40-byte IPv6 and
//   8-byte UDP headers that is the IPv6 minimum MTU of 1280, so a message never
//   needs IP fragmentation.
// - Items: type 0x00–0xef belong to the message kind, 0xf0–0xff are common to
//   every kind (see messages.ts). Unknown types are skipped; when a singular type
//   repeats, the first one counts. Fewer than 3 bytes after the last item (not
//   room for an item header) are ignored, and so are bytes after the fields this
//   version knows inside an item's value: newer nodes may append, older ones
//   survive.
import { isIPv4 } from 'node:net';
import { formatIpv6Address, parseIpv6Address, prefixMask } from '../config/ipv6.js';
import { WireDecodeError, WireEncodeError } from './errors.js';

/** A frame authenticated by its sender's ECDSA signature. */
export const WIRE_VERSION = 1;
/** A frame authenticated by a MAC under the sender's and recipient's link key. */
export const WIRE_VERSION_MAC = 2;
/** How a frame is authenticated: the version byte that says so. */
export type FrameAuth = 'signature' | 'mac';
/** UDP payload limit: 1280 (IPv6 minimum MTU) - 40 (IPv6 header) - 8 (UDP header). */
export const MAX_MESSAGE_BYTES = 1232;
export const PREFIX_BYTES = 17;
export const ITEM_HEADER_BYTES = 3;
/** Bytes before the signature: version, kind, two prefixes, timestamp, seq, sig length. */
export const ENVELOPE_BYTES = 49;
/** ECDSA P-256 in IEEE-P1363 form (r ‖ s). */
export const SIGNATURE_BYTES = 64;
/** The longest P-256 signature in DER form (what pki signBytes makes): two 33-byte INTEGERs. */
export const MAX_DER_SIGNATURE_BYTES = 72;
/** HMAC-SHA256 truncated to 128 bits. */
export const MAC_TAG_BYTES = 16;

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
  auth: FrameAuth;
  envelope: Envelope;
  /** The authenticator: an ECDSA signature, or a MAC tag when auth is 'mac'. */
  signature: Buffer;
  /** The exact bytes the authenticator covers. */
  signedData: Buffer;
  items: TlvItem[];
}

export type Signer = (data: Buffer) => Buffer;

export function item(type: number, value: Buffer): TlvItem {
  return { type, value, offset: 0 };
}

/**
 * Builds an authenticated frame: `sign` gets the covered bytes and returns the
 * signature (auth 'signature') or the MAC tag (auth 'mac'). Throws
 * WireEncodeError if it would exceed MAX_MESSAGE_BYTES.
 */
export function encodeFrame(envelope: Envelope, items: readonly TlvItem[], sign: Signer, auth: FrameAuth = 'signature'): Buffer {
  const bodyBytes = itemsBytes(items);
  const size = ENVELOPE_BYTES + (auth === 'mac' ? MAC_TAG_BYTES : SIGNATURE_BYTES) + bodyBytes;
  if (size > MAX_MESSAGE_BYTES) {
    throw new WireEncodeError('RN_WIRE_TOO_LARGE', `cannot encode peer message: ${size} bytes exceed ${MAX_MESSAGE_BYTES}. Split it into smaller messages.`, { size });
  }
  // The covered bytes are built in place (envelope then items), one buffer, no concatenation.
  const covered = Buffer.allocUnsafe(OFF_SIG_LEN + bodyBytes);
  covered.writeUInt8(auth === 'mac' ? WIRE_VERSION_MAC : WIRE_VERSION, 0);
  covered.writeUInt8(checkUint(envelope.kind, 0xff, 'kind'), OFF_KIND);
  encodePrefixInto(envelope.sender, covered, OFF_SENDER);
  if (envelope.recipient !== undefined) encodePrefixInto(envelope.recipient, covered, OFF_RECIPIENT);
  else covered.fill(0, OFF_RECIPIENT, OFF_TIMESTAMP);
  writeU64(covered, checkUint(envelope.timestampMs, Number.MAX_SAFE_INTEGER, 'timestampMs'), OFF_TIMESTAMP);
  covered.writeUInt32BE(checkUint(envelope.seq, 0xffffffff, 'seq'), OFF_SEQ);
  writeItems(items, covered, OFF_SIG_LEN);
  const signature = sign(covered);
  if (signature.length === 0 || signature.length > 0xff || (auth === 'mac' && signature.length !== MAC_TAG_BYTES)) {
    throw new WireEncodeError('RN_WIRE_BAD_FIELD', `cannot encode peer message: ${auth === 'mac' ? 'MAC tag' : 'signature'} of ${signature.length} bytes`);
  }
  const frameBytes = ENVELOPE_BYTES + signature.length + bodyBytes;
  if (frameBytes > MAX_MESSAGE_BYTES) {
    throw new WireEncodeError('RN_WIRE_TOO_LARGE', `cannot encode peer message: ${frameBytes} bytes exceed ${MAX_MESSAGE_BYTES}. Split it into smaller messages.`, { size: frameBytes });
  }
  const frame = Buffer.allocUnsafe(frameBytes);
  covered.copy(frame, 0, 0, OFF_SIG_LEN);
  frame.writeUInt8(signature.length, OFF_SIG_LEN);
  signature.copy(frame, ENVELOPE_BYTES);
  covered.copy(frame, ENVELOPE_BYTES + signature.length, OFF_SIG_LEN);
  return frame;
}

export function encodeItems(items: readonly TlvItem[]): Buffer {
  const out = Buffer.allocUnsafe(itemsBytes(items));
  writeItems(items, out, 0);
  return out;
}

function itemsBytes(items: readonly TlvItem[]): number {
  let n = 0;
  for (const it of items) n += ITEM_HEADER_BYTES + it.value.length;
  return n;
}

function writeItems(items: readonly TlvItem[], out: Buffer, at: number): void {
  let pos = at;
  for (const it of items) {
    out.writeUInt8(checkUint(it.type, 0xff, 'item type'), pos);
    out.writeUInt16BE(checkUint(it.value.length, 0xffff, 'item length'), pos + 1);
    it.value.copy(out, pos + ITEM_HEADER_BYTES);
    pos += ITEM_HEADER_BYTES + it.value.length;
  }
}

/** Parses a frame's structure; does not check the signature (peerproto does). */
export function decodeFrame(frame: Buffer): DecodedFrame {
  if (frame.length > MAX_MESSAGE_BYTES) {
    throw new WireDecodeError('RN_WIRE_OVERSIZE', `peer message of ${frame.length} bytes exceeds ${MAX_MESSAGE_BYTES}`, { offset: MAX_MESSAGE_BYTES });
  }
  const r = new ValueReader(frame, 0, frame.length, undefined);
  const version = r.u8();
  if (version !== WIRE_VERSION && version !== WIRE_VERSION_MAC) {
    throw new WireDecodeError('RN_WIRE_VERSION', `peer message version ${version} is neither ${WIRE_VERSION} (signed) nor ${WIRE_VERSION_MAC} (link MAC)`, { offset: 0 });
  }
  const kind = r.u8();
  const sender = r.prefix();
  if (sender === undefined) throw new WireDecodeError('RN_WIRE_BAD_VALUE', 'peer message without a sender prefix', { offset: OFF_SENDER });
  const recipient = r.prefix();
  const timestampMs = r.u64();
  const seq = r.u32();
  const sigLen = r.u8();
  const auth: FrameAuth = version === WIRE_VERSION_MAC ? 'mac' : 'signature';
  if (auth === 'mac' && sigLen !== MAC_TAG_BYTES) {
    throw new WireDecodeError('RN_WIRE_BAD_VALUE', `link-MAC peer message with a ${sigLen}-byte tag, not ${MAC_TAG_BYTES}`, { offset: OFF_SIG_LEN });
  }
  const signature = r.bytes(sigLen);
  const bodyStart = r.position;
  const items = decodeItems(frame, bodyStart);
  return {
    version,
    auth,
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
    const high = this.buf.readUInt32BE(at);
    if (high > MAX_SAFE_HIGH) this.fail(`integer ${this.buf.readBigUInt64BE(at)} is too large`, at);
    return high * 2 ** 32 + this.buf.readUInt32BE(at + 4);
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
    const key = this.buf.toString('latin1', at, at + PREFIX_BYTES);
    const known = decodedPrefixes.get(key);
    if (known !== undefined) return known;
    const length = this.buf.readUInt8(at);
    const address = bigFromBytes(this.buf.subarray(at + 1, at + PREFIX_BYTES));
    if (length > 128) this.fail(`prefix length ${length} exceeds 128`, at);
    if ((address & ~prefixMask(length)) !== 0n) this.fail('prefix has host bits set', at);
    if (length === 0) {
      return undefined;
    }
    return decodedPrefixes.remember(key, `${formatIpv6Address(address)}/${length}`);
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
  writeU64(b, checkUint(value, Number.MAX_SAFE_INTEGER, 'u64'), 0);
  return b;
}

/** The high 32 bits of Number.MAX_SAFE_INTEGER (2^53 - 1). */
const MAX_SAFE_HIGH = 0x1f_ffff;

/** A safe integer as u64 big-endian, in two 32-bit halves (no BigInt per frame). */
function writeU64(out: Buffer, value: number, at: number): void {
  out.writeUInt32BE(Math.floor(value / 2 ** 32), at);
  out.writeUInt32BE(value >>> 0, at + 4);
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

/**
 * Every frame names two prefixes, mostly the same few (ours, our peers'): their
 * bytes and texts are remembered instead of parsed again. Bounded: a flood of
 * new prefixes only empties it.
 */
class PrefixMemo<K, V> {
  private readonly map = new Map<K, V>();

  constructor(private readonly max: number) {}

  get(key: K): V | undefined {
    return this.map.get(key);
  }

  remember(key: K, value: V): V {
    if (this.map.size >= this.max) this.map.clear();
    this.map.set(key, value);
    return value;
  }
}

const MEMO_PREFIXES = 1024;
/** Prefix bytes (latin1) → canonical text. */
const decodedPrefixes = new PrefixMemo<string, string>(MEMO_PREFIXES);
/** Prefix text → its 17 bytes. */
const encodedPrefixes = new PrefixMemo<string, Buffer>(MEMO_PREFIXES);

function encodePrefixInto(prefix: string, out: Buffer, at: number): void {
  const known = encodedPrefixes.get(prefix);
  if (known !== undefined) {
    known.copy(out, at);
    return;
  }
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
  const bytes = Buffer.alloc(PREFIX_BYTES);
  bytes.writeUInt8(length, 0);
  bigIntoBytes(address, bytes, 1);
  encodedPrefixes.remember(prefix, bytes).copy(out, at);
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
