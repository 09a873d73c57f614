// The real verifyPeerCert: a peer's DER certificate checked against the CA, the
// clock and the current revoked serials. Certificates are public, so anyone can
// send a valid one with a frame: a full check (X.509 parse, CA signature) costs
// hundreds of µs and is done once per certificate. Verified certificates are
// kept by SHA-256 fingerprint (bounded, least recently used dropped first); a
// cached one is still checked against the clock and the revoked serials on
// every use, so a new CRL or an expiry applies at once. The CA is parsed once.
import { createHash, X509Certificate } from 'node:crypto';
import { ResilnetError } from '../../config/errors.js';
import { readCertificate, type CertInfo } from '../../pki/identity.js';
import type { VerifiedPeerCert } from './protocol.js';

export interface PeerCertVerifierDeps {
  caPem: string;
  clock: { nowMs(): number };
  /** Read on every check, so a new CRL applies at once. */
  revokedSerials: () => ReadonlySet<string> | readonly string[];
  /** Verified certificates remembered (default 4096). */
  maxCached?: number;
}

/** Checks a certificate (throws RN_PKI_CERT_INVALID / _EXPIRED / _REVOKED); `peek` answers from the cache only. */
export interface PeerCertVerifier {
  (certDer: Buffer): VerifiedPeerCert;
  /** The cached verdict, re-checked against clock and CRL: the certificate, 'refused' (expired, revoked), or undefined when not cached. */
  peek(certDer: Buffer): VerifiedPeerCert | 'refused' | undefined;
  /** Certificates cached. */
  readonly size: number;
}

type Cached = VerifiedPeerCert & Pick<CertInfo, 'notBeforeMs' | 'notAfterMs'>;

export function makePeerCertVerifier(deps: PeerCertVerifierDeps): PeerCertVerifier {
  const ca = new X509Certificate(deps.caPem);
  const caKey = ca.publicKey;
  const maxCached = deps.maxCached ?? 4096;
  const cache = new Map<string, Cached>();

  const lookup = (fingerprint: string): Cached | undefined => {
    const hit = cache.get(fingerprint);
    if (hit !== undefined) {
      cache.delete(fingerprint); // re-insert: Map order = least recently used first
      cache.set(fingerprint, hit);
    }
    return hit;
  };

  const verify = (certDer: Buffer): VerifiedPeerCert => {
    const fingerprint = fingerprintOf(certDer);
    const hit = lookup(fingerprint);
    if (hit !== undefined) return checkUsable(hit, deps.clock.nowMs(), deps.revokedSerials());
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(certDer);
    } catch (err) {
      throw new ResilnetError('RN_PKI_CERT_INVALID', `cannot parse certificate (${(err as Error).message})`, { cause: err });
    }
    if (!cert.checkIssued(ca) || !cert.verify(caKey)) {
      throw new ResilnetError('RN_PKI_CERT_INVALID', 'certificate was not issued by this network\'s CA');
    }
    const info = readCertificate(cert.toString());
    const entry: Cached = { prefix: info.prefix, serial: info.serial, publicKey: info.publicKey, notBeforeMs: info.notBeforeMs, notAfterMs: info.notAfterMs };
    checkUsable(entry, deps.clock.nowMs(), deps.revokedSerials());
    if (cache.size >= maxCached) {
      const oldest = cache.keys().next().value;
      if (oldest !== undefined) cache.delete(oldest);
    }
    cache.set(fingerprint, entry);
    return entry;
  };

  const peek = (certDer: Buffer): VerifiedPeerCert | 'refused' | undefined => {
    const hit = lookup(fingerprintOf(certDer));
    if (hit === undefined) return undefined;
    try {
      return checkUsable(hit, deps.clock.nowMs(), deps.revokedSerials());
    } catch {
      return 'refused';
    }
  };

  return Object.defineProperties(Object.assign(verify, { peek }), { size: { get: () => cache.size } }) as PeerCertVerifier;
}

function fingerprintOf(certDer: Buffer): string {
  return createHash('sha256').update(certDer).digest('base64');
}

/** Validity period and revocation: what can change for a certificate already verified. */
function checkUsable(c: Cached, nowMs: number, revoked: ReadonlySet<string> | readonly string[]): VerifiedPeerCert {
  if (nowMs < c.notBeforeMs) {
    throw new ResilnetError('RN_PKI_CERT_INVALID', `certificate ${c.prefix} is not valid before ${new Date(c.notBeforeMs).toISOString()}`);
  }
  if (nowMs > c.notAfterMs) {
    throw new ResilnetError('RN_PKI_CERT_EXPIRED', `certificate ${c.prefix} expired at ${new Date(c.notAfterMs).toISOString()}`, {
      details: { prefix: c.prefix, serial: c.serial, notAfterMs: c.notAfterMs },
    });
  }
  if (revoked instanceof Set ? revoked.has(c.serial) : (revoked as readonly string[]).includes(c.serial)) {
    throw new ResilnetError('RN_PKI_CERT_REVOKED', `certificate ${c.prefix} (serial ${c.serial}) is revoked`, { details: { prefix: c.prefix, serial: c.serial } });
  }
  return { prefix: c.prefix, serial: c.serial, publicKey: c.publicKey };
}
