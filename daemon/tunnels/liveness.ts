// Per-tunnel link liveness, pure: each side sends a small peer-protocol hello
// over every tunnel every helloIntervalMs; a tunnel from which no hello came
// for `misses` intervals is lost (its routes are taken away at once, long
// before babel would notice), and restored when hellos come back. A tunnel
// that stays lost gets its openvpn end restarted (a frozen process never
// recovers on its own). A tunnel whose peer never sent a link hello (an older
// daemon, or liveness off there) is never declared lost.

export interface LivenessPolicy {
  helloIntervalMs: number;
  /** Missed hellos in a row that make the link lost. */
  misses: number;
  /** A link lost this long gets its openvpn end restarted… */
  restartAfterMs: number;
  /** …and again this often while it stays lost. */
  restartEveryMs: number;
}

export const DEFAULT_LINK_HELLO_INTERVAL_SEC = 0.25;
export const DEFAULT_LINK_HELLO_MISSES = 4;

export function livenessPolicy(helloIntervalSec: number, misses: number): LivenessPolicy {
  const helloIntervalMs = Math.round(helloIntervalSec * 1000);
  // After openvpn's own keepalive timeout (5 s), so a live openvpn gets to reconnect first.
  return { helloIntervalMs, misses, restartAfterMs: Math.max(5_000, helloIntervalMs * misses * 2), restartEveryMs: 30_000 };
}

export function lostAfterMs(policy: LivenessPolicy): number {
  return policy.helloIntervalMs * policy.misses;
}

export interface LinkLiveness {
  /** waiting: no hello from the peer yet; alive: hellos arrive; lost: they stopped. */
  phase: 'waiting' | 'alive' | 'lost';
  lastHelloMs: number | null;
  lostSinceMs: number | null;
  lastRestartMs: number | null;
}

export type LivenessAction =
  | { kind: 'lost'; silentMs: number }
  | { kind: 'restored'; lostForMs: number }
  | { kind: 'restart'; lostForMs: number };

export function newLinkLiveness(): LinkLiveness {
  return { phase: 'waiting', lastHelloMs: null, lostSinceMs: null, lastRestartMs: null };
}

/** A link hello arrived from the peer over this tunnel. */
export function onLinkHello(s: LinkLiveness, nowMs: number): { state: LinkLiveness; actions: LivenessAction[] } {
  const actions: LivenessAction[] = s.phase === 'lost' ? [{ kind: 'restored', lostForMs: nowMs - (s.lostSinceMs ?? nowMs) }] : [];
  return { state: { phase: 'alive', lastHelloMs: nowMs, lostSinceMs: null, lastRestartMs: null }, actions };
}

/** Time passed: declares the link lost, or asks for a restart of our end. */
export function checkLinkLiveness(s: LinkLiveness, nowMs: number, policy: LivenessPolicy): { state: LinkLiveness; actions: LivenessAction[] } {
  if (s.phase === 'alive' && s.lastHelloMs !== null) {
    const silentMs = nowMs - s.lastHelloMs;
    if (silentMs >= lostAfterMs(policy)) {
      return { state: { ...s, phase: 'lost', lostSinceMs: nowMs }, actions: [{ kind: 'lost', silentMs }] };
    }
  }
  if (s.phase === 'lost' && s.lostSinceMs !== null) {
    const lostForMs = nowMs - s.lostSinceMs;
    const due = s.lastRestartMs === null ? lostForMs >= policy.restartAfterMs : nowMs - s.lastRestartMs >= policy.restartEveryMs;
    if (due) return { state: { ...s, lastRestartMs: nowMs }, actions: [{ kind: 'restart', lostForMs }] };
  }
  return { state: s, actions: [] };
}

/** When checkLinkLiveness has something to do next (undefined: only a hello changes anything). */
export function nextLivenessDeadlineMs(s: LinkLiveness, policy: LivenessPolicy): number | undefined {
  if (s.phase === 'alive' && s.lastHelloMs !== null) return s.lastHelloMs + lostAfterMs(policy);
  if (s.phase === 'lost' && s.lostSinceMs !== null) {
    return s.lastRestartMs === null ? s.lostSinceMs + policy.restartAfterMs : s.lastRestartMs + policy.restartEveryMs;
  }
  return undefined;
}

/** "no hello for 1.0 s", the reason in the link-lost event line. */
export function lostReason(silentMs: number): string {
  return `no hello for ${(silentMs / 1000).toFixed(1)} s`;
}
