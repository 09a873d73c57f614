// When to (re)map a port: a pure decision from the mapping's state and `nowMs`.
// Renew at half the granted lease, so one failed renewal still leaves time for
// retries before the gateway drops the rule; retry failures with capped backoff,
// never later than the lease allows.

export interface LeaseState {
  /** Lease we ask for, seconds. */
  requestedLeaseSec: number;
  /** Lease the gateway granted at the last success; 0 = permanent; undefined = never mapped. */
  grantedLeaseSec?: number;
  /** Time of the last successful map. */
  mappedAtMs?: number;
  /** Consecutive failed attempts since the last success. */
  failures: number;
  /** Time of the last failed attempt. */
  lastFailureAtMs?: number;
}

export type LeaseReason =
  | 'not-mapped' // never mapped: map now
  | 'half-lease' // half of the granted lease has passed
  | 'refresh-permanent' // a permanent mapping is re-asserted every requested lease/2 (the gateway may have rebooted)
  | 'retry' // the last attempt failed and its backoff has passed
  | 'lease-running' // waiting for half-lease
  | 'backoff'; // waiting after a failure

export type LeasePlan =
  | { kind: 'renew'; reason: LeaseReason; expired: boolean; expiresAtMs: number | undefined }
  | { kind: 'wait'; untilMs: number; reason: LeaseReason; expired: boolean; expiresAtMs: number | undefined };

export const RETRY_BASE_MS = 5_000;
export const RETRY_MAX_MS = 5 * 60_000;
/** Never schedule a renewal closer together than this, even for tiny leases. */
export const MIN_RENEW_GAP_MS = 1_000;

/** Backoff after `failures` consecutive failures: 5 s, 10 s, 20 s, … capped at 5 min. */
export function retryDelayMs(failures: number): number {
  if (failures <= 0) return 0;
  return Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.min(failures - 1, 20));
}

export function planLeaseRenewal(mapping: LeaseState, nowMs: number): LeasePlan {
  const { grantedLeaseSec, mappedAtMs, failures, lastFailureAtMs } = mapping;
  const mapped = mappedAtMs !== undefined && grantedLeaseSec !== undefined;
  const expiresAtMs = mapped && grantedLeaseSec > 0 ? mappedAtMs + grantedLeaseSec * 1000 : undefined;
  const expired = mapped ? expiresAtMs !== undefined && nowMs >= expiresAtMs : true;

  // When a healthy mapping would be renewed next.
  let dueMs: number;
  let dueReason: LeaseReason;
  if (!mapped) {
    dueMs = Number.NEGATIVE_INFINITY;
    dueReason = 'not-mapped';
  } else {
    const basisSec = grantedLeaseSec > 0 ? grantedLeaseSec : mapping.requestedLeaseSec;
    dueMs = mappedAtMs + Math.max(MIN_RENEW_GAP_MS, (basisSec * 1000) / 2);
    dueReason = grantedLeaseSec > 0 ? 'half-lease' : 'refresh-permanent';
  }

  if (failures > 0 && lastFailureAtMs !== undefined) {
    let retryAtMs = lastFailureAtMs + retryDelayMs(failures);
    // While the lease still runs, keep retries inside it: at most half the time left.
    if (expiresAtMs !== undefined && !expired) {
      retryAtMs = Math.min(retryAtMs, lastFailureAtMs + Math.max(MIN_RENEW_GAP_MS, (expiresAtMs - lastFailureAtMs) / 2));
    }
    retryAtMs = Math.max(retryAtMs, dueMs);
    if (nowMs >= retryAtMs) return { kind: 'renew', reason: 'retry', expired, expiresAtMs };
    return { kind: 'wait', untilMs: retryAtMs, reason: 'backoff', expired, expiresAtMs };
  }

  if (nowMs >= dueMs) return { kind: 'renew', reason: dueReason, expired, expiresAtMs };
  return { kind: 'wait', untilMs: dueMs, reason: 'lease-running', expired, expiresAtMs };
}
