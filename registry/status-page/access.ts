// Who may see the status page. The admin socket is guarded by its file mode;
// the page is on the public HTTPS port, so it takes the same idea ("only
// someone on the registry host, or someone the admin named") in TCP terms:
//   - a connection from this host: the peer address is loopback, or equals the
//     address the connection arrived on (a TCP handshake to one of our own
//     addresses from that same address cannot complete from another machine);
//   - or a client certificate from this network's CA, valid, not revoked, whose
//     node is registered, and whose fingerprint the admin listed (the admin role).
// Everyone else gets 403 with the reason. A reverse proxy on the registry host
// makes every request local: put the page behind the proxy's own access control.
import { normalizeFingerprint, type CertInfo } from '../../pki/identity.js';

export interface PeerFacts {
  remoteAddress: string | undefined;
  localAddress: string | undefined;
  /** DER of the client certificate, when the client sent one. */
  certificate: Buffer | undefined;
}

export type AccessDecision =
  | { allowed: true; via: 'loopback' | 'same-host' | 'admin-certificate' }
  | { allowed: false; reason: string };

const unmapped = (ip: string): string => (/^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(ip) ? ip.slice(7) : ip);

export function isLoopback(ip: string): boolean {
  const a = unmapped(ip);
  return a === '::1' || /^127\.\d+\.\d+\.\d+$/.test(a);
}

/** Normalised fingerprints (`sha256:hex`); throws RN_PKI_FINGERPRINT_INVALID naming a bad entry. */
export function adminFingerprintSet(list: readonly string[]): ReadonlySet<string> {
  return new Set(list.map(normalizeFingerprint));
}

const HOW_TO =
  'Open it on the registry host (https://localhost:PORT/ or the address it listens on), or present a client ' +
  'certificate whose fingerprint the admin lists in the registry\'s status admin fingerprints.';

/**
 * Decides one request. `authenticate` is the registry's own client-certificate
 * check (chain, validity, revocation, node still registered); it throws with the reason.
 */
export function decideAccess(peer: PeerFacts, admins: ReadonlySet<string>, authenticate: (der: Buffer) => CertInfo): AccessDecision {
  const remote = unmapped(peer.remoteAddress ?? '');
  if (remote && isLoopback(remote)) return { allowed: true, via: 'loopback' };
  if (remote && remote === unmapped(peer.localAddress ?? '')) return { allowed: true, via: 'same-host' };
  if (!peer.certificate || peer.certificate.length === 0) {
    return { allowed: false, reason: `the status page is for the registry's administrators, and this request comes from ${remote || 'an unknown address'} without a client certificate. ${HOW_TO}` };
  }
  let info: CertInfo;
  try {
    info = authenticate(peer.certificate);
  } catch (err) {
    return { allowed: false, reason: `the client certificate was refused (${(err as Error).message}). ${HOW_TO}` };
  }
  if (!admins.has(info.fingerprint)) {
    return { allowed: false, reason: `the certificate of ${info.prefix} (${info.fingerprint}) has no admin role. ${HOW_TO}` };
  }
  return { allowed: true, via: 'admin-certificate' };
}
