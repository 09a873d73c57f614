// Whether a decoded LAN announcement comes from a node of our network (pure
// apart from the injected certificate check). The checks run cheapest first, so
// a foreign or stale datagram costs no certificate or signature work, and a
// datagram that fails leaves no trace in the replay window.
import { ResilnetError } from '../../config/errors.js';
import { verifyBytes } from '../../pki/identity.js';
import { derSignature } from '../peerproto/signature.js';
import type { VerifiedPeerCert } from '../peerproto/protocol.js';
import type { DecodedAnnouncement } from './announcement.js';
import type { ReplayWindow } from './replay-window.js';

/** Why an announcement was ignored; each is a counter in `status`. */
export const REJECTIONS = ['malformed', 'foreign', 'badCert', 'revoked', 'badSignature', 'stale', 'replayed'] as const;
export type Rejection = (typeof REJECTIONS)[number];

export type Verdict =
  | { ok: true; sender: VerifiedPeerCert }
  | { ok: false; reason: Rejection | 'own'; detail: string };

export interface VerifyContext {
  /** SHA-256 of our CA's DER. */
  caFingerprint: Buffer;
  ownPrefix: string;
  /** daemon/peerproto/cert.ts makePeerCertVerifier: CA, validity, revocation; throws ResilnetError. */
  verifyCert: (certDer: Buffer) => VerifiedPeerCert;
  replay: ReplayWindow;
  nowMs: number;
}

/** Checks an announcement and, when it passes, remembers it in the replay window. */
export function verifyAnnouncement(a: DecodedAnnouncement, ctx: VerifyContext): Verdict {
  if (!a.caFingerprint.equals(ctx.caFingerprint)) {
    return { ok: false, reason: 'foreign', detail: `signed under another CA (sha256:${a.caFingerprint.toString('hex').slice(0, 16)}…)` };
  }
  if (!ctx.replay.inWindow(a.timestampMs, ctx.nowMs)) {
    return { ok: false, reason: 'stale', detail: `timestamp ${isoTime(a.timestampMs)} lies outside the accepted clock skew` };
  }
  let sender: VerifiedPeerCert;
  try {
    sender = ctx.verifyCert(a.certDer);
  } catch (err) {
    const revoked = err instanceof ResilnetError && err.code === 'RN_PKI_CERT_REVOKED';
    return { ok: false, reason: revoked ? 'revoked' : 'badCert', detail: (err as Error).message };
  }
  if (sender.prefix === ctx.ownPrefix) return { ok: false, reason: 'own', detail: 'our own announcement' };
  const freshness = ctx.replay.check(sender.prefix, a.timestampMs, a.nonce, ctx.nowMs);
  if (freshness !== 'fresh') {
    return { ok: false, reason: freshness, detail: `timestamp ${isoTime(a.timestampMs)} ${freshness === 'stale' ? 'lies outside the accepted clock skew' : 'and nonce already seen'}` };
  }
  if (!verifyBytes(sender.publicKey, a.signedData, derSignature(a.signature))) {
    return { ok: false, reason: 'badSignature', detail: `signature does not match ${sender.prefix}'s certificate` };
  }
  ctx.replay.remember(sender.prefix, a.timestampMs, a.nonce, ctx.nowMs);
  return { ok: true, sender };
}

function isoTime(ms: number): string {
  return Number.isFinite(new Date(ms).getTime()) ? new Date(ms).toISOString() : String(ms);
}
