// The real verifyPeerCert: a peer's DER certificate checked against the CA, the
// clock and the current revoked serials (pki/ does the checking).
import { derToPem } from '../../pki/der.js';
import { verifyCertificate } from '../../pki/identity.js';
import type { VerifiedPeerCert } from './protocol.js';

export interface PeerCertVerifierDeps {
  caPem: string;
  clock: { nowMs(): number };
  /** Read on every check, so a new CRL applies at once. */
  revokedSerials: () => ReadonlySet<string> | readonly string[];
}

/** Throws ResilnetError RN_PKI_CERT_INVALID / _EXPIRED / _REVOKED. */
export function makePeerCertVerifier(deps: PeerCertVerifierDeps): (certDer: Buffer) => VerifiedPeerCert {
  return (certDer) => {
    const info = verifyCertificate(derToPem(certDer, 'CERTIFICATE'), deps.caPem, { nowMs: deps.clock.nowMs(), revokedSerials: deps.revokedSerials() });
    return { prefix: info.prefix, serial: info.serial, publicKey: info.publicKey };
  };
}
