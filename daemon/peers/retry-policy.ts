// When a peer is tried again, as pure functions of its failure state, the time
// and a random source. A dead peer is a last resort, not a tombstone: it is
// retried on a long jittered backoff (2 min · 2^k up to 30 min, ± 20 %) and
// revived by any proof of life; only a revoked peer is never tried again.

import type { NodeConfig } from '../../config/node-config.js';

export type DeadCause = 'failures' | 'revoked';

export interface PeerPolicy {
  /** Failed attempts in a row that make a peer dead (default 3). */
  deadAfterFailures: number;
  /** First backoff of a live peer; doubles with each failure (default 30 s). */
  retryBaseMs: number;
  /** Longest backoff of a live peer (default 30 min). */
  retryMaxMs: number;
  /** First retry of a dead peer after it died (default 2 min); doubles with each failed retry. */
  deadRetryBaseMs: number;
  /** Longest wait between retries of a dead peer, before jitter (default 30 min). */
  deadRetryMaxMs: number;
  /** Each dead-peer wait is scaled by 1 ± this at random (default 0.2), so peers that died together are not retried together. */
  deadRetryJitter: number;
}

export const DEFAULT_PEER_POLICY: PeerPolicy = {
  deadAfterFailures: 3,
  retryBaseMs: 30_000,
  retryMaxMs: 1_800_000,
  deadRetryBaseMs: 120_000,
  deadRetryMaxMs: 1_800_000,
  deadRetryJitter: 0.2,
};

/** The policy from resilnet.toml's [peers] table (seconds there, ms here). */
export function peerPolicyFromConfig(c: NodeConfig['peers']): PeerPolicy {
  return {
    ...DEFAULT_PEER_POLICY,
    deadAfterFailures: c.dead_after_failures,
    retryBaseMs: c.retry_base * 1000,
    deadRetryBaseMs: c.dead_retry_base * 1000,
    deadRetryMaxMs: Math.max(c.dead_retry_base, c.dead_retry_max) * 1000,
  };
}

export interface FailureState {
  failures: number;
  lastFailure: string | null;
  lastFailureMs: number | null;
  retryAtMs: number;
  dead: boolean;
  deadSinceMs: number | null;
  deadReason: string | null;
  deadCause: DeadCause | null;
}

export const LIVE_STATE: FailureState = {
  failures: 0,
  lastFailure: null,
  lastFailureMs: null,
  retryAtMs: 0,
  dead: false,
  deadSinceMs: null,
  deadReason: null,
  deadCause: null,
};

/** Backoff of a live peer after `failures` failures in a row. */
export function retryDelayMs(failures: number, policy: PeerPolicy = DEFAULT_PEER_POLICY): number {
  if (failures <= 0) return 0;
  return Math.min(policy.retryMaxMs, policy.retryBaseMs * 2 ** Math.min(failures - 1, 30));
}

/** Wait before the next try of a dead peer that has failed `retriesFailed` retries since it died; `rand` in [0, 1). */
export function deadRetryDelayMs(retriesFailed: number, rand: () => number, policy: PeerPolicy = DEFAULT_PEER_POLICY): number {
  const base = Math.min(policy.deadRetryMaxMs, policy.deadRetryBaseMs * 2 ** Math.min(Math.max(0, retriesFailed), 30));
  const r = Math.min(1, Math.max(0, rand()));
  return Math.round(base * (1 + policy.deadRetryJitter * (2 * r - 1)));
}

/** How long a peer that refused a tunnel because it is full is left alone (before jitter). */
export const BUSY_RETRY_MS = 60_000;

/**
 * The peer answered but refused a tunnel because it serves all it can: it is
 * alive, so neither a failure nor a step towards dead; it is not asked again
 * for BUSY_RETRY_MS ± 50 % (so many nodes refused at once do not return at once).
 */
export function applyBusy(state: FailureState, reason: string, nowMs: number, rand: () => number): FailureState {
  const r = Math.min(1, Math.max(0, rand()));
  const retryAtMs = nowMs + Math.round(BUSY_RETRY_MS * (0.5 + r));
  return { ...state, lastFailure: reason, lastFailureMs: nowMs, retryAtMs: Math.max(state.retryAtMs, retryAtMs) };
}

/**
 * One more failed attempt against the peer: back off; past the threshold it is
 * dead (retried after the dead-peer backoff); a dead peer's failed retry backs
 * off further. A revoked peer only counts the failure.
 */
export function applyFailure(state: FailureState, reason: string, nowMs: number, rand: () => number, policy: PeerPolicy = DEFAULT_PEER_POLICY): FailureState {
  const failures = state.failures + 1;
  const counted = { ...state, failures, lastFailure: reason, lastFailureMs: nowMs };
  if (state.dead && state.deadCause === 'revoked') return counted;
  // The k-th failed retry since it died waits base · 2^k.
  if (state.dead) return { ...counted, retryAtMs: nowMs + deadRetryDelayMs(Math.max(1, failures - policy.deadAfterFailures), rand, policy) };
  if (failures >= policy.deadAfterFailures) {
    return {
      ...counted,
      retryAtMs: nowMs + deadRetryDelayMs(0, rand, policy),
      dead: true,
      deadSinceMs: nowMs,
      deadReason: `${failures} failed attempts (${reason})`,
      deadCause: 'failures',
    };
  }
  return { ...counted, retryAtMs: nowMs + retryDelayMs(failures, policy) };
}

export type PeerStanding = 'ready' | 'backoff' | 'dead-due' | 'dead-waiting' | 'revoked';

/**
 * How a peer stands at `nowMs`: worth an attempt (`ready`), waiting out a
 * backoff, dead and due for its retry (a last resort), dead and waiting, or
 * revoked (never again).
 */
export function classifyPeer(p: { dead: boolean; deadCause?: DeadCause | null; retryAtMs: number }, nowMs: number): PeerStanding {
  if (p.dead && p.deadCause === 'revoked') return 'revoked';
  const due = p.retryAtMs <= nowMs;
  if (p.dead) return due ? 'dead-due' : 'dead-waiting';
  return due ? 'ready' : 'backoff';
}

/** When the peer is tried next at the latest: null for a revoked peer and for a live peer with no backoff. */
export function nextRetryAtMs(p: { dead: boolean; deadCause?: DeadCause | null; retryAtMs: number }): number | null {
  if (p.dead && p.deadCause === 'revoked') return null;
  return p.retryAtMs > 0 ? p.retryAtMs : null;
}
