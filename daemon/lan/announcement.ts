// A LAN announcement: one signed UDP datagram a node multicasts on each
// configured LAN interface so that neighbours on the segment find it without a
// registry. Pure: values in, bytes out, and back. Strict: anything this
// version does not define is refused (a new field needs a new version byte).
//
//   0        4   5                 13               21                      53
//   +--------+---+-----------------+----------------+-----------------------+
//   | "RNLA" | v | timestamp ms u64| nonce (8)      | CA fingerprint (32)   |
//   +--------+---+-----------------+----------------+-----------------------+
//   53             55
//   +--------------+------------------------------+-------------------------+
//   | items len u16| items (type u8, len u16, …)  | signature (the rest)    |
//   +--------------+------------------------------+-------------------------+
//
// - The signature (ECDSA P-256 by the certificate's key, IEEE-P1363 or DER)
//   covers every byte before it.
// - Items: 1 certificate (DER, exactly one), 2 LAN endpoint (wire endpoint:
//   family, address, port; 1…8), 3 registry URL (ASCII, at most one),
//   4 peer (17-byte prefix, count u8, endpoints; at most 8).
// - The CA fingerprint (SHA-256 of the CA's DER) lets a receiver drop another
//   network's announcement before any certificate work.
// - The certificate travels in the datagram (≈ 470 bytes for P-256): a
//   neighbour can verify the first datagram it hears, with no round trip and
//   no registry. The whole stays ≤ 1232 bytes (IPv6 minimum MTU minus the IPv6
//   and UDP headers); the encoder drops peers, then fails, past that.
import { WireDecodeError, WireEncodeError } from '../../wire/errors.js';
import { endpointBytes, item, encodeItems, prefixBytes, u16, u64, ValueReader, type TlvItem } from '../../wire/tlv.js';

export const ANNOUNCEMENT_MAGIC = Buffer.from('RNLA', 'latin1');
export const ANNOUNCEMENT_VERSION = 1;
/** 1280 (IPv6 minimum MTU) − 40 (IPv6 header) − 8 (UDP header). */
export const MAX_ANNOUNCEMENT_BYTES = 1232;
export const NONCE_BYTES = 8;
export const CA_FINGERPRINT_BYTES = 32;
export const MAX_LAN_ENDPOINTS = 8;
export const MAX_ANNOUNCED_PEERS = 8;
const MAX_PEER_ENDPOINTS = 4;
const MAX_URL_BYTES = 256;
/** DER ECDSA P-256 signatures are 8…72 bytes; IEEE-P1363 is 64. */
const MIN_SIGNATURE_BYTES = 8;
const MAX_SIGNATURE_BYTES = 72;
const HEADER_BYTES = 4 + 1 + 8 + NONCE_BYTES + CA_FINGERPRINT_BYTES + 2;

const ITEM = { certificate: 1, endpoint: 2, registryUrl: 3, peer: 4 } as const;

export interface AnnouncedPeer {
  prefix: string;
  /** "IP:PORT" (IPv6 in brackets). */
  addresses: string[];
}

export interface Announcement {
  timestampMs: number;
  nonce: Buffer;
  /** SHA-256 of the sender's CA certificate (DER). */
  caFingerprint: Buffer;
  /** The sender's certificate (DER); its CN is the sender's prefix. */
  certDer: Buffer;
  /** The sender's own addresses on this LAN with its peer-protocol port, "IP:PORT". */
  endpoints: string[];
  registryUrl?: string | undefined;
  peers: AnnouncedPeer[];
}

export interface DecodedAnnouncement extends Announcement {
  /** The bytes the signature covers. */
  signedData: Buffer;
  signature: Buffer;
}

/**
 * Encodes and signs. Peers that do not fit are left out (the receiver only needs
 * a few); throws WireEncodeError when even the certificate and endpoints do not fit,
 * or a value cannot be encoded.
 */
export function encodeAnnouncement(a: Announcement, sign: (data: Buffer) => Buffer): Buffer {
  if (a.nonce.length !== NONCE_BYTES) throw new WireEncodeError('RN_WIRE_BAD_FIELD', `announcement nonce must be ${NONCE_BYTES} bytes, not ${a.nonce.length}`);
  if (a.caFingerprint.length !== CA_FINGERPRINT_BYTES) throw new WireEncodeError('RN_WIRE_BAD_FIELD', `CA fingerprint must be ${CA_FINGERPRINT_BYTES} bytes, not ${a.caFingerprint.length}`);
  if (a.endpoints.length < 1 || a.endpoints.length > MAX_LAN_ENDPOINTS) throw new WireEncodeError('RN_WIRE_BAD_FIELD', `an announcement carries 1-${MAX_LAN_ENDPOINTS} LAN endpoints, not ${a.endpoints.length}`);
  const fixed: TlvItem[] = [item(ITEM.certificate, a.certDer), ...a.endpoints.map((e) => item(ITEM.endpoint, endpointBytes(e)))];
  if (a.registryUrl !== undefined) fixed.push(item(ITEM.registryUrl, urlBytes(a.registryUrl)));
  const peers = a.peers.slice(0, MAX_ANNOUNCED_PEERS).map((p) => item(ITEM.peer, peerBytes(p)));
  const room = MAX_ANNOUNCEMENT_BYTES - HEADER_BYTES - MAX_SIGNATURE_BYTES;
  let used = encodeItems(fixed).length;
  if (used > room) throw new WireEncodeError('RN_WIRE_TOO_LARGE', `announcement of ${used + HEADER_BYTES + MAX_SIGNATURE_BYTES} bytes exceeds ${MAX_ANNOUNCEMENT_BYTES}: announce fewer LAN endpoints`);
  const kept: TlvItem[] = [];
  for (const p of peers) {
    const size = 3 + p.value.length;
    if (used + size > room) break;
    kept.push(p);
    used += size;
  }
  const items = encodeItems([...fixed, ...kept]);
  const signed = Buffer.concat([ANNOUNCEMENT_MAGIC, Buffer.from([ANNOUNCEMENT_VERSION]), u64(a.timestampMs), a.nonce, a.caFingerprint, u16(items.length), items]);
  const signature = sign(signed);
  if (signature.length < MIN_SIGNATURE_BYTES || signature.length > MAX_SIGNATURE_BYTES) {
    throw new WireEncodeError('RN_WIRE_BAD_FIELD', `announcement signature of ${signature.length} bytes (want ${MIN_SIGNATURE_BYTES}-${MAX_SIGNATURE_BYTES})`);
  }
  return Buffer.concat([signed, signature]);
}

/** Parses a datagram; throws WireDecodeError (with the offset) for anything this version does not define. */
export function decodeAnnouncement(datagram: Buffer): DecodedAnnouncement {
  if (datagram.length > MAX_ANNOUNCEMENT_BYTES) {
    throw new WireDecodeError('RN_WIRE_OVERSIZE', `announcement of ${datagram.length} bytes exceeds ${MAX_ANNOUNCEMENT_BYTES}`, { offset: MAX_ANNOUNCEMENT_BYTES });
  }
  const r = new ValueReader(datagram, 0, datagram.length, undefined);
  if (!r.bytes(4).equals(ANNOUNCEMENT_MAGIC)) r.fail('not a resilnet LAN announcement (magic)', 0);
  const version = r.u8();
  if (version !== ANNOUNCEMENT_VERSION) throw new WireDecodeError('RN_WIRE_VERSION', `LAN announcement version ${version}; this node speaks ${ANNOUNCEMENT_VERSION}`, { offset: 4 });
  const timestampMs = r.u64();
  const nonce = Buffer.from(r.bytes(NONCE_BYTES));
  const caFingerprint = Buffer.from(r.bytes(CA_FINGERPRINT_BYTES));
  const itemsLength = r.u16();
  const itemsStart = r.position;
  r.bytes(itemsLength);
  const signedEnd = r.position;
  const signature = Buffer.from(r.rest());
  if (signature.length < MIN_SIGNATURE_BYTES || signature.length > MAX_SIGNATURE_BYTES) {
    throw new WireDecodeError('RN_WIRE_BAD_VALUE', `announcement signature of ${signature.length} bytes (want ${MIN_SIGNATURE_BYTES}-${MAX_SIGNATURE_BYTES})`, { offset: signedEnd });
  }
  const body = decodeItems(datagram, itemsStart, signedEnd);
  return { timestampMs, nonce, caFingerprint, ...body, signedData: Buffer.from(datagram.subarray(0, signedEnd)), signature };
}

function decodeItems(buf: Buffer, start: number, end: number): Pick<Announcement, 'certDer' | 'endpoints' | 'registryUrl' | 'peers'> {
  const r = new ValueReader(buf, start, end, undefined);
  let certDer: Buffer | undefined;
  let registryUrl: string | undefined;
  const endpoints: string[] = [];
  const peers: AnnouncedPeer[] = [];
  while (r.remaining > 0) {
    const at = r.position;
    const type = r.u8();
    const length = r.u16();
    const v = new ValueReader(buf, r.position, r.position + length, type);
    r.bytes(length); // bounds-checked: a length past the items is truncation
    if (type === ITEM.certificate) {
      if (certDer) v.fail('a second certificate', at);
      if (length === 0) v.fail('an empty certificate', at);
      certDer = Buffer.from(v.rest());
    } else if (type === ITEM.endpoint) {
      if (endpoints.length === MAX_LAN_ENDPOINTS) v.fail(`more than ${MAX_LAN_ENDPOINTS} LAN endpoints`, at);
      endpoints.push(v.endpoint());
      if (v.remaining) v.fail('bytes after a LAN endpoint');
    } else if (type === ITEM.registryUrl) {
      if (registryUrl !== undefined) v.fail('a second registry URL', at);
      registryUrl = readUrl(v);
    } else if (type === ITEM.peer) {
      if (peers.length === MAX_ANNOUNCED_PEERS) v.fail(`more than ${MAX_ANNOUNCED_PEERS} peers`, at);
      peers.push(readPeer(v));
    } else {
      v.fail(`unknown announcement item type ${type}`, at);
    }
  }
  if (!certDer) throw new WireDecodeError('RN_WIRE_MISSING_FIELD', 'announcement without a certificate', { offset: start });
  if (endpoints.length === 0) throw new WireDecodeError('RN_WIRE_MISSING_FIELD', 'announcement without a LAN endpoint', { offset: start });
  return { certDer, endpoints, registryUrl, peers };
}

function urlBytes(url: string): Buffer {
  if (!isRegistryUrl(url)) throw new WireEncodeError('RN_WIRE_BAD_FIELD', `not an http(s) registry URL of at most ${MAX_URL_BYTES} ASCII bytes: "${url}"`);
  return Buffer.from(url, 'latin1');
}

function readUrl(v: ValueReader): string {
  const raw = v.rest();
  const url = raw.toString('latin1');
  if (!isRegistryUrl(url)) v.fail('registry URL is not an http(s) URL of printable ASCII');
  return url;
}

function isRegistryUrl(url: string): boolean {
  if (url.length === 0 || url.length > MAX_URL_BYTES || !/^[\x21-\x7e]+$/.test(url)) return false;
  try {
    const u = new URL(url);
    return u.protocol === 'https:' || u.protocol === 'http:';
  } catch {
    return false;
  }
}

function peerBytes(p: AnnouncedPeer): Buffer {
  const addresses = p.addresses.slice(0, MAX_PEER_ENDPOINTS);
  return Buffer.concat([prefixBytes(p.prefix), Buffer.from([addresses.length]), ...addresses.map(endpointBytes)]);
}

function readPeer(v: ValueReader): AnnouncedPeer {
  const prefix = v.prefix();
  if (prefix === undefined) v.fail('peer without a prefix');
  const count = v.u8();
  if (count === 0 || count > MAX_PEER_ENDPOINTS) v.fail(`peer with ${count} addresses (want 1-${MAX_PEER_ENDPOINTS})`);
  const addresses: string[] = [];
  for (let i = 0; i < count; i++) addresses.push(v.endpoint());
  if (v.remaining) v.fail('bytes after a peer\'s addresses');
  return { prefix, addresses };
}
