// Whom a failed attempt says something about: the peer, or this host. A send
// that the local stack refuses (no route, a firewall's EPERM, an address gone)
// and every peer failing at once while nothing is heard from anyone are
// evidence that this host is cut off; they must not mark peers dead (a host
// that lost its uplink for three minutes would otherwise bury all its peers).
// Pure: the caller keeps the history and passes the time.

export type Blame = 'peer' | 'local';

export interface AttemptOutcome {
  peer: string;
  atMs: number;
  ok: boolean;
}

export interface BlameContext {
  nowMs: number;
  /** Recent attempts, oldest first, this failure included. */
  attempts: readonly AttemptOutcome[];
  /** Last authenticated packet from any peer, or answer from the registry; null: none yet. */
  lastHeardMs: number | null;
}

export interface BlamePolicy {
  /** Failures older than this are not part of "every peer failing at once". */
  windowMs: number;
  /** Nothing heard from anyone for this long counts as silence. */
  quietMs: number;
  /** Distinct peers that must have failed in a row within the window. */
  minPeersFailing: number;
}

export const DEFAULT_BLAME_POLICY: BlamePolicy = { windowMs: 120_000, quietMs: 30_000, minPeersFailing: 2 };

/** Socket errors that come from this host's stack or its firewall, not from the peer. */
const LOCAL_ERRNOS = new Set(['EPERM', 'EACCES', 'ENETUNREACH', 'EHOSTUNREACH', 'EADDRNOTAVAIL', 'ENETDOWN', 'ENOBUFS']);

/** Peer-protocol codes that mean the datagram never left this host. */
const LOCAL_CODES = new Set(['RN_PEERPROTO_SEND', 'RN_PEERPROTO_NOT_RUNNING']);

/**
 * The local cause of an error, looking through `cause` chains: an errno such as
 * "EPERM", or the peer-protocol code when no errno is attached; undefined when
 * the error says nothing about this host (e.g. RN_PEERPROTO_TIMEOUT: no answer).
 */
export function localSendError(err: unknown): string | undefined {
  let found: string | undefined;
  let e: unknown = err;
  for (let depth = 0; depth < 8 && e !== null && typeof e === 'object'; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && LOCAL_ERRNOS.has(code)) return code;
    if (typeof code === 'string' && LOCAL_CODES.has(code)) found ??= code;
    e = (e as { cause?: unknown }).cause;
  }
  return found;
}

export function blameFailure(error: unknown, ctx: BlameContext, policy: BlamePolicy = DEFAULT_BLAME_POLICY): { blame: Blame; why: string } {
  const local = localSendError(error);
  if (local !== undefined) return { blame: 'local', why: `this host could not send (${local})` };
  if (ctx.lastHeardMs !== null && ctx.nowMs - ctx.lastHeardMs < policy.quietMs) {
    return { blame: 'peer', why: 'other peers answer' };
  }
  const streak: AttemptOutcome[] = [];
  for (let i = ctx.attempts.length - 1; i >= 0; i--) {
    const a = ctx.attempts[i]!;
    if (a.ok || ctx.nowMs - a.atMs > policy.windowMs) break;
    streak.push(a);
  }
  const peers = new Set(streak.map((a) => a.peer)).size;
  if (peers >= policy.minPeersFailing) {
    const silent = ctx.lastHeardMs === null ? 'nothing heard from anyone yet' : `nothing heard from anyone for ${Math.round((ctx.nowMs - ctx.lastHeardMs) / 1000)} s`;
    return { blame: 'local', why: `every peer failing at once: ${peers} peers failed in a row within ${Math.round(policy.windowMs / 1000)} s, ${silent}` };
  }
  return { blame: 'peer', why: peers > 1 ? `${peers} peers failing, fewer than ${policy.minPeersFailing}` : 'only this peer is failing' };
}
