// Just enough DER reading to cut a signed structure (certificate, CRL, CSR)
// into its raw to-be-signed bytes and its signature, so signatures can be
// checked synchronously with node:crypto over the exact bytes that were signed.
import { ResilnetError } from '../config/errors.js';

interface Tlv {
  tag: number;
  start: number; // first byte of the tag
  contentStart: number;
  end: number; // one past the last content byte
}

function readTlv(der: Uint8Array, offset: number): Tlv {
  if (offset + 2 > der.length) throw new ResilnetError('RN_PKI_DER_INVALID', 'DER data truncated');
  const tag = der[offset]!;
  let len = der[offset + 1]!;
  let pos = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || pos + n > der.length) throw new ResilnetError('RN_PKI_DER_INVALID', 'DER length invalid');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[pos + i]!;
    pos += n;
  }
  if (pos + len > der.length) throw new ResilnetError('RN_PKI_DER_INVALID', 'DER data truncated');
  return { tag, start: offset, contentStart: pos, end: pos + len };
}

/** The TLVs directly inside a constructed TLV. */
function childrenOf(der: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = parent.contentStart; at < parent.end; ) {
    const child = readTlv(der, at);
    if (child.end > parent.end) throw new ResilnetError('RN_PKI_DER_INVALID', 'DER child overruns its parent');
    out.push(child);
    at = child.end;
  }
  return out;
}

/**
 * The SubjectPublicKeyInfo (DER) of a PKCS#10 request:
 * CertificationRequest { CertificationRequestInfo { version, subject, spki, [0] attrs }, alg, sig }.
 */
export function csrPublicKeyInfo(der: Uint8Array): Buffer {
  const outer = readTlv(der, 0);
  const info = readTlv(der, outer.contentStart);
  const parts = childrenOf(der, info);
  const spki = parts[2];
  if (outer.tag !== 0x30 || info.tag !== 0x30 || parts[0]?.tag !== 0x02 || parts[1]?.tag !== 0x30 || spki?.tag !== 0x30) {
    throw new ResilnetError('RN_PKI_DER_INVALID', 'not a PKCS#10 certificate request');
  }
  return Buffer.from(der.subarray(spki.start, spki.end));
}

/** The subjectPublicKey bits of a SubjectPublicKeyInfo: SEQ { algorithm SEQ, BIT STRING }. */
export function spkiPublicKeyBits(spki: Uint8Array): Buffer {
  const outer = readTlv(spki, 0);
  const alg = readTlv(spki, outer.contentStart);
  const bits = readTlv(spki, alg.end);
  if (outer.tag !== 0x30 || alg.tag !== 0x30 || bits.tag !== 0x03 || bits.end - bits.contentStart < 2) {
    throw new ResilnetError('RN_PKI_DER_INVALID', 'not a SubjectPublicKeyInfo');
  }
  return Buffer.from(spki.subarray(bits.contentStart + 1, bits.end));
}

/** Dotted text of an OBJECT IDENTIFIER's content bytes. */
function oidText(content: Uint8Array): string {
  const arcs: number[] = [];
  let value = 0;
  for (const byte of content) {
    value = value * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      arcs.push(value);
      value = 0;
    }
  }
  const first = arcs.shift() ?? 0;
  const head = first < 80 ? [Math.floor(first / 40), first % 40] : [2, first - 80];
  return [...head, ...arcs].join('.');
}

/** AlgorithmIdentifier SEQ { OID, parameters? } at `alg`: the OID and the tag of the parameters (undefined when absent). */
function algorithmAt(der: Uint8Array, alg: Tlv): { oid: string; paramsTag: number | undefined } {
  const [oid, params] = childrenOf(der, alg);
  if (alg.tag !== 0x30 || oid?.tag !== 0x06) throw new ResilnetError('RN_PKI_DER_INVALID', 'not an AlgorithmIdentifier');
  return { oid: oidText(der.subarray(oid.contentStart, oid.end)), paramsTag: params?.tag };
}

/**
 * The key algorithm of a SubjectPublicKeyInfo. For EC keys the parameters are
 * an OID (a named curve, tag 0x06) or a SEQUENCE of explicit curve parameters (0x30).
 */
export function spkiAlgorithm(spki: Uint8Array): { oid: string; paramsTag: number | undefined } {
  const outer = readTlv(spki, 0);
  return algorithmAt(spki, readTlv(spki, outer.contentStart));
}

/** The signature algorithm OID of SEQUENCE { tbs, algorithm, signature } (certificate, CRL, CSR). */
export function signatureAlgorithmOid(der: Uint8Array): string {
  const outer = readTlv(der, 0);
  const tbs = readTlv(der, outer.contentStart);
  return algorithmAt(der, readTlv(der, tbs.end)).oid;
}

/** Splits SEQUENCE { tbs, algorithm, BIT STRING signature } into its parts. */
export function splitSigned(der: Uint8Array): { tbs: Buffer; signature: Buffer } {
  const outer = readTlv(der, 0);
  if (outer.tag !== 0x30) throw new ResilnetError('RN_PKI_DER_INVALID', 'not a DER SEQUENCE');
  const tbs = readTlv(der, outer.contentStart);
  const alg = readTlv(der, tbs.end);
  const sig = readTlv(der, alg.end);
  if (tbs.tag !== 0x30 || alg.tag !== 0x30 || sig.tag !== 0x03 || sig.end - sig.contentStart < 2) {
    throw new ResilnetError('RN_PKI_DER_INVALID', 'not a signed DER structure');
  }
  return {
    tbs: Buffer.from(der.subarray(tbs.start, tbs.end)),
    // The first content byte of a BIT STRING counts unused bits (0 here).
    signature: Buffer.from(der.subarray(sig.contentStart + 1, sig.end)),
  };
}

/**
 * What a node needs from a CRL (RFC 5280 TBSCertList): the revoked serials (hex
 * of the INTEGER content bytes) and the update times. Reading it here keeps
 * @peculiar/x509 (about 20 MiB once loaded) out of a running daemon.
 */
export function crlContents(der: Uint8Array): { serials: string[]; thisUpdateMs: number; nextUpdateMs: number | undefined } {
  const outer = readTlv(der, 0);
  const tbs = readTlv(der, outer.contentStart);
  if (outer.tag !== 0x30 || tbs.tag !== 0x30) throw new ResilnetError('RN_PKI_DER_INVALID', 'not a CRL');
  const parts = childrenOf(der, tbs);
  let i = parts[0]?.tag === 0x02 ? 1 : 0; // optional version
  if (parts[i]?.tag !== 0x30 || parts[i + 1]?.tag !== 0x30) throw new ResilnetError('RN_PKI_DER_INVALID', 'CRL without signature algorithm or issuer');
  i += 2;
  const thisUpdate = parts[i++];
  if (thisUpdate === undefined) throw new ResilnetError('RN_PKI_DER_INVALID', 'CRL without thisUpdate');
  const thisUpdateMs = timeAt(der, thisUpdate);
  let nextUpdateMs: number | undefined;
  if (parts[i]?.tag === 0x17 || parts[i]?.tag === 0x18) nextUpdateMs = timeAt(der, parts[i++]!);
  const serials: string[] = [];
  const revoked = parts[i];
  if (revoked?.tag === 0x30) {
    for (const entry of childrenOf(der, revoked)) {
      const serial = entry.tag === 0x30 ? readTlv(der, entry.contentStart) : undefined;
      if (serial?.tag !== 0x02 || serial.end > entry.end) throw new ResilnetError('RN_PKI_DER_INVALID', 'CRL entry without a serial');
      serials.push(Buffer.from(der.subarray(serial.contentStart, serial.end)).toString('hex'));
    }
  }
  return { serials, thisUpdateMs, nextUpdateMs };
}

/** UTCTime (YYMMDDHHMMSSZ, years 1950–2049) or GeneralizedTime (YYYYMMDDHHMMSSZ) as epoch ms. */
function timeAt(der: Uint8Array, t: Tlv): number {
  const text = Buffer.from(der.subarray(t.contentStart, t.end)).toString('latin1');
  const m = (t.tag === 0x17 ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/ : t.tag === 0x18 ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/ : undefined)?.exec(text);
  if (!m) throw new ResilnetError('RN_PKI_DER_INVALID', `CRL time "${text}" is not a UTC time`);
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const year = t.tag === 0x17 ? (y < 50 ? 2000 + y : 1900 + y) : y;
  return Date.UTC(year, mo - 1, d, h, mi, s);
}

/** The DER bytes inside the first PEM block with the given label. */
export function pemToDer(pem: string, label: string): Buffer {
  const re = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`);
  const m = re.exec(pem);
  if (!m) throw new ResilnetError('RN_PKI_PEM_INVALID', `no PEM block "${label}" found`);
  return Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64');
}

export function derToPem(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** A copy backed by a plain ArrayBuffer (what @peculiar/x509's types want). */
export function ownBytes(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(bytes);
}

/** PEM text ending in exactly one newline, so files can be concatenated. */
export function pemText(pem: string): string {
  return `${pem.replace(/\r\n/g, '\n').trimEnd()}\n`;
}
