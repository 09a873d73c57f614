// Reading and checking certificates, CRLs and signatures: everything a node
// and the registry need to decide whether an identity is good. Synchronous,
// node:crypto only (issuance, which needs @peculiar/x509, lives in ca.ts).
import { createHash, createPublicKey, sign, verify, X509Certificate, type KeyObject } from 'node:crypto';
import { ResilnetError } from '../config/errors.js';
import { canonicalPrefix } from '../config/ipv6.js';
import { crlContents, pemToDer, splitSigned } from './der.js';

export interface CertInfo {
  /** The node's overlay prefix (certificate CN), canonical CIDR text. */
  readonly prefix: string;
  /** Lowercase hex, no leading zeros (see normalizeSerial). */
  readonly serial: string;
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
  /** `sha256:` + lowercase hex of the DER certificate. */
  readonly fingerprint: string;
  readonly publicKey: KeyObject;
  readonly pem: string;
}

export interface VerifyCertificateOptions {
  nowMs: number;
  revokedSerials?: ReadonlySet<string> | readonly string[];
  /** Accept a certificate this long after notAfter (renewal grace). Default 0. */
  graceMs?: number;
}

export interface CrlInfo {
  readonly serials: string[];
  readonly thisUpdateMs: number;
  readonly nextUpdateMs?: number;
}

/** Serials as lowercase hex without leading zeros ("00A1" → "a1", "0" → "0"). */
export function normalizeSerial(serial: string): string {
  const hex = serial.replace(/[:\s]/g, '').toLowerCase();
  if (!/^[0-9a-f]+$/.test(hex)) {
    throw new ResilnetError('RN_PKI_SERIAL_INVALID', `invalid certificate serial "${serial}": expected hex digits`);
  }
  return hex.replace(/^0+(?=.)/, '');
}

/** Normalises a user-given fingerprint ("sha256:AB:CD…", "abcd…") to `sha256:abcd…`. */
export function normalizeFingerprint(text: string): string {
  const hex = text.trim().replace(/^sha256:/i, '').replace(/:/g, '').toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex)) {
    throw new ResilnetError('RN_PKI_FINGERPRINT_INVALID', `invalid fingerprint "${text}": expected sha256: followed by 64 hex digits`);
  }
  return `sha256:${hex}`;
}

function parseX509(pem: string, what: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw new ResilnetError('RN_PKI_CERT_INVALID', `cannot parse ${what} (${(err as Error).message})`, { cause: err });
  }
}

function commonName(cert: X509Certificate): string | undefined {
  for (const line of cert.subject.split('\n')) {
    if (line.startsWith('CN=')) return line.slice(3);
  }
  return undefined;
}

function infoOf(cert: X509Certificate): CertInfo {
  const cn = commonName(cert);
  let prefix: string;
  try {
    prefix = canonicalPrefix(cn ?? '');
  } catch (err) {
    throw new ResilnetError('RN_PKI_CERT_INVALID', `certificate subject CN "${cn ?? ''}" is not an IPv6 prefix`, { cause: err });
  }
  return Object.freeze({
    prefix,
    serial: normalizeSerial(cert.serialNumber),
    notBeforeMs: Date.parse(cert.validFrom),
    notAfterMs: Date.parse(cert.validTo),
    fingerprint: `sha256:${createHash('sha256').update(cert.raw).digest('hex')}`,
    publicKey: cert.publicKey,
    pem: cert.toString(),
  });
}

/** Parses a node certificate (CN = its prefix). Throws RN_PKI_CERT_INVALID. */
export function readCertificate(pem: string): CertInfo {
  return infoOf(parseX509(pem, 'certificate'));
}

/**
 * Checks that a node certificate was issued by the CA, is inside its validity
 * period (plus graceMs) and is not revoked. Returns its info.
 */
export function verifyCertificate(certPem: string, caPem: string, options: VerifyCertificateOptions): CertInfo {
  const ca = parseX509(caPem, 'CA certificate');
  const cert = parseX509(certPem, 'certificate');
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) {
    throw new ResilnetError('RN_PKI_CERT_INVALID', 'certificate was not issued by this network\'s CA');
  }
  const info = infoOf(cert);
  const graceMs = options.graceMs ?? 0;
  if (options.nowMs < info.notBeforeMs) {
    throw new ResilnetError('RN_PKI_CERT_INVALID', `certificate ${info.prefix} is not valid before ${new Date(info.notBeforeMs).toISOString()}`);
  }
  if (options.nowMs > info.notAfterMs + graceMs) {
    throw new ResilnetError('RN_PKI_CERT_EXPIRED', `certificate ${info.prefix} expired at ${new Date(info.notAfterMs).toISOString()}`, {
      details: { prefix: info.prefix, serial: info.serial, notAfterMs: info.notAfterMs },
    });
  }
  const revoked = options.revokedSerials;
  if (revoked && (revoked instanceof Set ? revoked.has(info.serial) : (revoked as readonly string[]).includes(info.serial))) {
    throw new ResilnetError('RN_PKI_CERT_REVOKED', `certificate ${info.prefix} (serial ${info.serial}) is revoked`, {
      details: { prefix: info.prefix, serial: info.serial },
    });
  }
  return info;
}

/** ECDSA/SHA-256 (DER signature) over `data`. */
export function signBytes(key: KeyObject | string, data: Uint8Array): Buffer {
  return sign('sha256', data, key);
}

/** True only for a good signature; any malformed input is simply false. */
export function verifyBytes(publicKey: KeyObject | string, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    const key = typeof publicKey === 'string' ? publicKeyFromPem(publicKey) : publicKey;
    return verify('sha256', data, key, signature);
  } catch {
    return false; // a malformed key or signature is a bad signature, not a crash
  }
}

/** Accepts a certificate or a public key PEM. */
function publicKeyFromPem(pem: string): KeyObject {
  if (pem.includes('CERTIFICATE')) return new X509Certificate(pem).publicKey;
  return createPublicKey(pem);
}

/** Parses a PEM "X509 CRL" and checks it was signed by the CA. */
export function parseCrl(pem: string, caPem: string): CrlInfo {
  const ca = parseX509(caPem, 'CA certificate');
  let der: Buffer;
  let crl: ReturnType<typeof crlContents>;
  try {
    der = pemToDer(pem, 'X509 CRL');
    crl = crlContents(der);
  } catch (err) {
    throw new ResilnetError('RN_PKI_CRL_INVALID', `cannot parse CRL (${(err as Error).message})`, { cause: err });
  }
  const { tbs, signature } = splitSigned(der);
  if (!verifyBytes(ca.publicKey, tbs, signature)) {
    throw new ResilnetError('RN_PKI_CRL_INVALID', 'CRL signature does not match this network\'s CA');
  }
  return {
    serials: crl.serials.map(normalizeSerial),
    thisUpdateMs: crl.thisUpdateMs,
    ...(crl.nextUpdateMs !== undefined ? { nextUpdateMs: crl.nextUpdateMs } : {}),
  };
}

/** `sha256:` + lowercase hex of the DER certificate (what `register --fingerprint` takes). */
export function caFingerprint(pem: string): string {
  const cert = parseX509(pem, 'CA certificate');
  return `sha256:${createHash('sha256').update(cert.raw).digest('hex')}`;
}
