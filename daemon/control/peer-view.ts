// A peer-DB record as the control API shows it (`resilnet peers`): the daemon's
// answer and the CLI's offline reading of the peer DB go through this one mapping.
import type { PeerRecord } from '../peers/peer-db.js';
import { nextRetryAtMs } from '../peers/retry-policy.js';
import type { PeerView } from './protocol.js';

/** `adjacent`: a tunnel with the peer is open (only the running daemon knows). */
export function peerView(x: PeerRecord, adjacent: boolean): PeerView {
  return {
    prefix: x.prefix,
    addresses: x.addresses,
    source: x.source,
    firstSeenMs: x.firstSeenMs,
    lastSeenMs: x.lastSeenMs,
    lastSuccessMs: x.lastSuccessMs,
    failures: x.failures,
    dead: x.dead,
    deadReason: x.deadReason,
    deadCause: x.deadCause,
    deadSinceMs: x.deadSinceMs,
    nextRetryMs: nextRetryAtMs(x),
    rttMs: x.rttMs,
    adjacent,
  };
}
