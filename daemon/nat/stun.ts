// STUN binding requests and responses (RFC 5389, with RFC 3489 servers in
// mind): just enough to learn the address and port a NAT maps a UDP socket to.
// Pure; the socket lives in stun-client.ts. Parsing is strict: a message of the
// wrong length, class, cookie or transaction, or an address attribute of the
// wrong size, is refused with a reason, never half-read.

export const STUN_MAGIC_COOKIE = 0x2112a442;
const HEADER_BYTES = 20;
const BINDING_REQUEST = 0x0001;
const BINDING_SUCCESS = 0x0101;
const BINDING_ERROR = 0x0111;
const ATTR_MAPPED_ADDRESS = 0x0001;
const ATTR_CHANGED_ADDRESS = 0x0005;
const ATTR_XOR_MAPPED_ADDRESS = 0x0020;
/** Some RFC 3489-era servers (and stund) send XOR-MAPPED-ADDRESS under this older number. */
const ATTR_XOR_MAPPED_ADDRESS_OLD = 0x8020;
const ATTR_ERROR_CODE = 0x0009;

export interface StunEndpoint {
  family: 'IPv4' | 'IPv6';
  address: string;
  port: number;
}

export interface StunBindingResult {
  /** The address and port the server saw the request come from. */
  mapped: StunEndpoint;
  /** Which attribute carried it (XOR-MAPPED-ADDRESS is preferred when both are present). */
  source: 'xor-mapped-address' | 'mapped-address';
  /** RFC 3489 CHANGED-ADDRESS: the server's other address and port, when it has one. */
  changed?: StunEndpoint;
}

export class StunParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StunParseError';
  }
}

/** A 20-byte binding request with the given 12-byte transaction id. */
export function encodeBindingRequest(transactionId: Uint8Array): Buffer {
  if (transactionId.length !== 12) throw new RangeError(`a STUN transaction id is 12 bytes (got ${transactionId.length})`);
  const msg = Buffer.alloc(HEADER_BYTES);
  msg.writeUInt16BE(BINDING_REQUEST, 0);
  msg.writeUInt16BE(0, 2);
  msg.writeUInt32BE(STUN_MAGIC_COOKIE, 4);
  Buffer.from(transactionId).copy(msg, 8);
  return msg;
}

/** Parses a binding response to the request with `transactionId`; throws StunParseError on anything else. */
export function parseBindingResponse(msg: Uint8Array, transactionId: Uint8Array): StunBindingResult {
  const buf = Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength);
  if (buf.length < HEADER_BYTES) throw new StunParseError(`message too short: ${buf.length} bytes (a STUN header is ${HEADER_BYTES})`);
  const type = buf.readUInt16BE(0);
  const length = buf.readUInt16BE(2);
  if ((type & 0xc000) !== 0) throw new StunParseError(`not a STUN message: first two bits set (type 0x${type.toString(16)})`);
  if (length % 4 !== 0) throw new StunParseError(`message length ${length} is not a multiple of 4`);
  if (HEADER_BYTES + length !== buf.length) throw new StunParseError(`message length field says ${length} bytes of attributes, datagram has ${buf.length - HEADER_BYTES}`);
  if (buf.readUInt32BE(4) !== STUN_MAGIC_COOKIE) throw new StunParseError('wrong magic cookie (not an RFC 5389 answer to our request)');
  if (!buf.subarray(8, 20).equals(Buffer.from(transactionId))) throw new StunParseError('transaction id does not match the request');

  const attrs = readAttributes(buf.subarray(HEADER_BYTES));
  if (type === BINDING_ERROR) {
    const err = attrs.get(ATTR_ERROR_CODE);
    throw new StunParseError(`the server answered with an error${err ? `: ${describeErrorCode(err)}` : ''}`);
  }
  if (type !== BINDING_SUCCESS) throw new StunParseError(`not a binding success response (type 0x${type.toString(16).padStart(4, '0')})`);

  const xor = attrs.get(ATTR_XOR_MAPPED_ADDRESS) ?? attrs.get(ATTR_XOR_MAPPED_ADDRESS_OLD);
  const plain = attrs.get(ATTR_MAPPED_ADDRESS);
  const changedValue = attrs.get(ATTR_CHANGED_ADDRESS);
  const changed = changedValue ? { changed: readAddress(changedValue, 'CHANGED-ADDRESS') } : {};
  if (xor) return { mapped: readAddress(xor, 'XOR-MAPPED-ADDRESS', buf.subarray(4, 20)), source: 'xor-mapped-address', ...changed };
  if (plain) return { mapped: readAddress(plain, 'MAPPED-ADDRESS'), source: 'mapped-address', ...changed };
  throw new StunParseError('binding response without XOR-MAPPED-ADDRESS or MAPPED-ADDRESS');
}

/** Attribute type → value; the first occurrence wins (RFC 5389 §15). */
function readAttributes(body: Buffer): Map<number, Buffer> {
  const attrs = new Map<number, Buffer>();
  let at = 0;
  while (at < body.length) {
    if (body.length - at < 4) throw new StunParseError(`truncated attribute header at offset ${at}`);
    const type = body.readUInt16BE(at);
    const len = body.readUInt16BE(at + 2);
    const padded = len + ((4 - (len % 4)) % 4);
    if (at + 4 + padded > body.length) throw new StunParseError(`attribute 0x${type.toString(16)} of ${len} bytes runs past the end of the message`);
    if (!attrs.has(type)) attrs.set(type, body.subarray(at + 4, at + 4 + len));
    at += 4 + padded;
  }
  return attrs;
}

/** An address attribute: 0, family, port, address; XORed with the cookie (and transaction id) when `xorKey` is given. */
function readAddress(value: Buffer, name: string, xorKey?: Buffer): StunEndpoint {
  if (value.length < 4) throw new StunParseError(`${name} too short: ${value.length} bytes`);
  const family = value.readUInt8(1);
  const want = family === 0x01 ? 8 : family === 0x02 ? 20 : undefined;
  if (want === undefined) throw new StunParseError(`${name} has unknown address family 0x${family.toString(16)}`);
  if (value.length !== want) throw new StunParseError(`${name} for ${family === 1 ? 'IPv4' : 'IPv6'} must be ${want} bytes (got ${value.length})`);
  const raw = Buffer.from(value.subarray(4));
  let port = value.readUInt16BE(2);
  if (xorKey) {
    port ^= STUN_MAGIC_COOKIE >>> 16;
    for (let i = 0; i < raw.length; i++) raw[i]! ^= xorKey[i]!;
  }
  if (port === 0) throw new StunParseError(`${name} has port 0`);
  if (family === 0x01) return { family: 'IPv4', address: [...raw].join('.'), port };
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(raw.readUInt16BE(i).toString(16));
  return { family: 'IPv6', address: compressIpv6(groups), port };
}

function compressIpv6(groups: string[]): string {
  // Longest run of zero groups (≥ 2) becomes "::".
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < groups.length; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === '0') j++;
    if (j - i > bestLen && j - i >= 2) [best, bestLen] = [i, j - i];
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

function describeErrorCode(value: Buffer): string {
  if (value.length < 4) return 'malformed ERROR-CODE';
  const code = (value.readUInt8(2) & 0x07) * 100 + value.readUInt8(3);
  const reason = value.subarray(4).toString('utf8').replace(/[^\x20-\x7e]/g, '?').slice(0, 100);
  return `${code}${reason ? ` ${reason}` : ''}`;
}
