// The node's identity on disk: CA, certificate and key (written by `resilnet
// register`), read and checked at start, and a renewed certificate adopted in
// place (same prefix, same key) when the registry issues one.
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { ResilnetError } from '../../config/errors.js';
import { signBytes, verifyCertificate, type CertInfo } from '../../pki/identity.js';
import type { StartSettings } from '../settings.js';

export interface Identity {
  caPem: string;
  certPem: string;
  keyPem: string;
  cert: CertInfo;
}

/** Reads and verifies the identity files; an unreadable one is an error that says how to fix it. */
export function loadIdentity(paths: StartSettings['identity'], configPath: string, nowMs: number): Identity {
  const read = (path: string, what: string): string => {
    try {
      return readFileSync(path, 'utf8');
    } catch (err) {
      throw new ResilnetError('RN_DAEMON_IDENTITY', `cannot read the ${what} ${path} (${(err as NodeJS.ErrnoException).code}). Run resilnet register first, or fix identity.* in ${configPath}.`, { cause: err });
    }
  };
  const caPem = read(paths.ca, 'CA certificate');
  const certPem = read(paths.cert, 'node certificate');
  const keyPem = read(paths.key, 'node key');
  const cert = verifyCertificate(certPem, caPem, { nowMs });
  return { caPem, certPem, keyPem, cert };
}

/**
 * A renewed certificate: verified against the CA, refused for another prefix, written over the
 * old file atomically. Returns the identity to use from now on.
 */
export function adoptRenewedCertificate(identity: Identity, certPem: string, certPath: string, nowMs: number): Identity {
  const cert = verifyCertificate(certPem, identity.caPem, { nowMs });
  if (cert.prefix !== identity.cert.prefix) {
    throw new ResilnetError('RN_PKI_CERT_INVALID', `renewed certificate is for ${cert.prefix}, not ${identity.cert.prefix}; kept the old one`);
  }
  writeFileSync(`${certPath}.tmp`, certPem, { mode: 0o644 });
  renameSync(`${certPath}.tmp`, certPath);
  return { ...identity, certPem, cert };
}

/** How the peer protocol signs as this node. The key is parsed once: signing with the PEM text parses it for every message. */
export function peerSelf(identity: Identity): { prefix: string; certDer: Buffer; sign: (data: Buffer) => Buffer; privateKey: KeyObject } {
  const key = createPrivateKey(identity.keyPem);
  // The private key also derives the link MAC keys (static ECDH with each peer's certificate).
  return { prefix: identity.cert.prefix, certDer: Buffer.from(new X509Certificate(identity.certPem).raw), sign: (data) => signBytes(key, data), privateKey: key };
}
