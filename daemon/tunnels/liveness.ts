// Per-tunnel link liveness, pure. Each side sends a small peer-protocol hello
// over every tunnel every helloIntervalMs. Anything authenticated that comes
// from the peer over the tunnel is a sign of life, not only its hellos. A
// tunnel silent for `misses` intervals is lost (its routes are taken away at
// once, long before babel would notice) and restored when the peer is heard
// again; one that stays lost gets its openvpn end restarted (a frozen process
// never recovers on its own). A tunnel whose peer was never heard (an older
// daemon, or liveness off there) is never declared lost.
//
// Slow is not dead. A host whose own timers run late (CPU starvation) cannot
// tell silence from packets still waiting in its socket, and a peer whose
// timers run late sends its hellos late: both widen the deadline, by twice the
// lateness seen lately (beyond ordinary jitter), up to a cap so a real cut on a
// busy host is still found. Lateness is remembered as a peak that fades.
// A link that was lost and came back on its own before any restart showed a
// stall, not a cut (packets late in starved openvpn ends, which no timer of
// ours measures): for a while its deadline also allows a gap that long.

export interface LivenessPolicy {
  helloIntervalMs: number;
  /** Intervals in a row without anything from the peer that make the link lost. */
  misses: number;
  /** A link lost this long gets its openvpn end restarted… */
  restartAfterMs: number;
  /** …and again after this long while it stays lost, twice as long after each restart that did not help… */
  restartEveryMs: number;
  /** …up to this (a restart is a TLS handshake: on a starved host many of them starve it further). */
  restartMaxMs: number;
  /** Timer lateness up to this is ordinary jitter, not a sign of a starved host. */
  lateToleranceMs: number;
  /** Lateness is remembered this long, fading linearly to nothing. */
  lateMemoryMs: number;
  /** The deadline is widened by at most this much. */
  maxWidenMs: number;
  /** A stall the link came back from is allowed for this long, fading linearly to nothing. */
  stallMemoryMs: number;
}

export const DEFAULT_LINK_HELLO_INTERVAL_SEC = 0.25;
export const DEFAULT_LINK_HELLO_MISSES = 4;

export function livenessPolicy(helloIntervalSec: number, misses: number): LivenessPolicy {
  const helloIntervalMs = Math.round(helloIntervalSec * 1000);
  const lostMs = helloIntervalMs * misses;
  return {
    helloIntervalMs,
    misses,
    restartAfterMs: Math.max(5_000, lostMs * 2),
    restartEveryMs: 30_000,
    restartMaxMs: 240_000,
    lateToleranceMs: Math.max(10, Math.round(helloIntervalMs / 10)),
    lateMemoryMs: 30_000,
    // 8 s at the defaults: a cut on a starved host is still found within 9 s. At 3 s, a 32-node lab at
    // load 100+ still lost links every few seconds after 4-8 s of silence (packets late in starved openvpn ends).
    maxWidenMs: lostMs * 8,
    stallMemoryMs: 120_000,
  };
}

/** CPU pressure ("some avg10", percent) up to this is an ordinary busy host. */
export const PRESSURE_FROM_PCT = 75;

/**
 * This host's lateness as the link check counts it: its timer lateness, or, when more,
 * what its CPU pressure (sys/cpu-pressure.ts) stands for: nothing up to PRESSURE_FROM_PCT,
 * growing linearly to half the widening cap at 100 % (4 s at the defaults: the deadline
 * widens to the cap and hellos stretch to their longest). A hello crosses two openvpn
 * processes and the peer's daemon, which starve as ours does and hold packets longer than
 * our timers run late: a 64-node lab on 2 cores (pressure ~100 %) lost ~400 links in 4.5
 * minutes after 2.6–5 s of silence with timers 1–2 s late; counting the timer lateness
 * twice still left links flapping and the lab short of all pairs after 15 minutes.
 */
export function pressuredLateMs(timerLateMs: number, someAvg10Pct: number, policy: LivenessPolicy): number {
  const share = Math.min(1, Math.max(0, (someAvg10Pct - PRESSURE_FROM_PCT) / (100 - PRESSURE_FROM_PCT)));
  return Math.max(timerLateMs, Math.round((share * policy.maxWidenMs) / 2));
}

/** The deadline of an on-time host and peer. */
export function lostAfterMs(policy: LivenessPolicy): number {
  return policy.helloIntervalMs * policy.misses;
}

/** The worst timer lateness seen lately: a peak that fades linearly over lateMemoryMs. */
export interface Lateness {
  peakMs: number;
  atMs: number;
}

export const NO_LATENESS: Lateness = { peakMs: 0, atMs: 0 };

export function recentLateMs(l: Lateness, nowMs: number, policy: LivenessPolicy): number {
  return fadedPeak(l, nowMs, policy.lateMemoryMs);
}

/** A new sample replaces the peak when it is at least what the faded peak is worth now. */
export function noteLateness(l: Lateness, nowMs: number, lateMs: number, policy: LivenessPolicy): Lateness {
  return notePeak(l, nowMs, lateMs, policy.lateMemoryMs);
}

function fadedPeak(l: Lateness, nowMs: number, memoryMs: number): number {
  const ageMs = Math.max(0, nowMs - l.atMs);
  return ageMs >= memoryMs ? 0 : l.peakMs * (1 - ageMs / memoryMs);
}

function notePeak(l: Lateness, nowMs: number, valueMs: number, memoryMs: number): Lateness {
  return valueMs >= fadedPeak(l, nowMs, memoryMs) && valueMs > 0 ? { peakMs: valueMs, atMs: nowMs } : l;
}

export interface LinkLiveness {
  /** waiting: nothing heard from the peer yet; alive: it is heard; lost: it went silent. */
  phase: 'waiting' | 'alive' | 'lost';
  /** Last time anything authenticated came from the peer over this tunnel. */
  lastHeardMs: number | null;
  lostSinceMs: number | null;
  lastRestartMs: number | null;
  /** Restarts of our end since the link was lost. */
  restarts: number;
  /** How late the peer says its own timers run (the lateMs of its hellos). */
  peerLate: Lateness;
  /** The longest stall beyond the deadline this link came back from by itself, fading. */
  stall: Lateness;
  /** lost → restored transitions so far. */
  flaps: number;
}

export type LivenessAction =
  | { kind: 'lost'; silentMs: number; widenedMs: number }
  | { kind: 'restored'; lostForMs: number; flaps: number }
  | { kind: 'restart'; lostForMs: number };

export interface LivenessStep {
  state: LinkLiveness;
  actions: LivenessAction[];
}

export function newLinkLiveness(): LinkLiveness {
  return { phase: 'waiting', lastHeardMs: null, lostSinceMs: null, lastRestartMs: null, restarts: 0, peerLate: NO_LATENESS, stall: NO_LATENESS, flaps: 0 };
}

/**
 * Something authenticated came from the peer over this tunnel; `peerLateMs` is
 * set when it was a hello that said how late its sender's timers run.
 */
export function onLinkPacket(s: LinkLiveness, nowMs: number, policy: LivenessPolicy, peerLateMs?: number): LivenessStep {
  const peerLate = peerLateMs === undefined ? s.peerLate : noteLateness(s.peerLate, nowMs, peerLateMs, policy);
  if (s.phase === 'lost') {
    const flaps = s.flaps + 1;
    // Back before any restart of ours: the whole silence was a stall of the path, not a cut.
    const byItself = s.lastRestartMs === null && s.lastHeardMs !== null;
    const stall = byItself ? notePeak(s.stall, nowMs, nowMs - s.lastHeardMs! - lostAfterMs(policy), policy.stallMemoryMs) : s.stall;
    return {
      state: { ...s, phase: 'alive', lastHeardMs: nowMs, lostSinceMs: null, lastRestartMs: null, restarts: 0, peerLate, stall, flaps },
      actions: [{ kind: 'restored', lostForMs: nowMs - (s.lostSinceMs ?? nowMs), flaps }],
    };
  }
  return { state: { ...s, phase: 'alive', lastHeardMs: nowMs, peerLate }, actions: [] };
}

/**
 * This host silences the link on purpose for a moment (a babel cost change sets it down and
 * up): the silence is not the peer's, so the deadline counts from now.
 */
export function excuseSilence(s: LinkLiveness, nowMs: number): LinkLiveness {
  return s.phase === 'alive' && s.lastHeardMs !== null && s.lastHeardMs < nowMs ? { ...s, lastHeardMs: nowMs } : s;
}

/**
 * How much later than lostAfterMs the link is lost, given the lateness this host
 * saw lately (`localLateMs`, its own timers) and the lateness the peer reported.
 * Twice the lateness: a stall can end just past the deadline with the peer's
 * packets still queued behind it, and the next stall may be longer.
 */
export function widenMs(s: LinkLiveness, nowMs: number, policy: LivenessPolicy, localLateMs: number): number {
  return Math.min(policy.maxWidenMs, Math.round(lateWidenMs(s, nowMs, policy, localLateMs) + fadedPeak(s.stall, nowMs, policy.stallMemoryMs)));
}

/** The part of the widening both ends compute alike: twice this host's and the peer's lateness beyond jitter. */
function lateWidenMs(s: LinkLiveness, nowMs: number, policy: LivenessPolicy, localLateMs: number): number {
  const beyondJitter = (ms: number): number => Math.max(0, ms - policy.lateToleranceMs);
  return Math.min(policy.maxWidenMs, 2 * (beyondJitter(localLateMs) + beyondJitter(recentLateMs(s.peerLate, nowMs, policy))));
}

/**
 * How often to send our hellos on this link: the interval, stretched while this host or
 * the peer runs late. The peer widens its deadline for us by the same lateness (ours,
 * which our hellos carry, and its own), so `misses` stretched intervals still fit in its
 * deadline: no verdict comes sooner, and a starved host sends a fraction of the hellos
 * (each one work for two daemons and two openvpn ends) instead of adding to the load
 * that starves it. On time, it is the interval.
 */
export function helloEveryMs(s: LinkLiveness, nowMs: number, policy: LivenessPolicy, localLateMs: number): number {
  return policy.helloIntervalMs + Math.floor(lateWidenMs(s, nowMs, policy, localLateMs) / policy.misses);
}

/**
 * Time passed: declares the link lost, or asks for a restart of our end.
 * `localLateMs`: this host's recent timer lateness, including the tick calling this.
 */
export function checkLinkLiveness(s: LinkLiveness, nowMs: number, policy: LivenessPolicy, localLateMs = 0): LivenessStep {
  if (s.phase === 'alive' && s.lastHeardMs !== null) {
    const silentMs = nowMs - s.lastHeardMs;
    const widenedMs = widenMs(s, nowMs, policy, localLateMs);
    if (silentMs >= lostAfterMs(policy) + widenedMs) {
      return { state: { ...s, phase: 'lost', lostSinceMs: nowMs }, actions: [{ kind: 'lost', silentMs, widenedMs }] };
    }
  }
  if (s.phase === 'lost' && s.lostSinceMs !== null) {
    const lostForMs = nowMs - s.lostSinceMs;
    if (nowMs >= nextRestartMs(s, policy, restartDelayMs(s, nowMs, policy, localLateMs))) return { state: { ...s, lastRestartMs: nowMs, restarts: s.restarts + 1 }, actions: [{ kind: 'restart', lostForMs }] };
  }
  return { state: s, actions: [] };
}

/**
 * An idle link's policy (`pace` > 1): a deadline and a probe spacing `pace` times the usual
 * ones, so the peer may beat that much less often. Lateness tolerance, widening and restarts
 * stay as they are. An idle link's cut hurts nobody until traffic flows, and beats are most of
 * what an idle node costs (each wakes two openvpn ends).
 */
export function idlePolicy(policy: LivenessPolicy, pace: number): LivenessPolicy {
  return pace > 1 ? { ...policy, helloIntervalMs: policy.helloIntervalMs * pace } : policy;
}

/**
 * checkLinkLiveness with the silence counted from `fromMs` at the earliest: the peer was asked
 * something then that it answers at once (our `busy` hello), so a deadline may run from the
 * question. The state keeps when the peer was really heard, and a verdict says how long it was.
 */
export function checkSilenceSince(s: LinkLiveness, fromMs: number, nowMs: number, policy: LivenessPolicy, localLateMs = 0): LivenessStep {
  const step = checkLinkLiveness(excuseSilence(s, fromMs), nowMs, policy, localLateMs);
  if (step.actions.length === 0) return { state: s, actions: [] };
  const heardMs = s.lastHeardMs ?? fromMs;
  return {
    state: { ...step.state, lastHeardMs: s.lastHeardMs },
    actions: step.actions.map((a) => (a.kind === 'lost' ? { ...a, silentMs: nowMs - heardMs } : a)),
  };
}

/** The peer said its end stopped: lost now, as if its silence had timed out. */
export function declareLost(s: LinkLiveness, nowMs: number): LivenessStep {
  if (s.phase !== 'alive') return { state: s, actions: [] };
  return {
    state: { ...s, phase: 'lost', lostSinceMs: nowMs },
    actions: [{ kind: 'lost', silentMs: nowMs - (s.lastHeardMs ?? nowMs), widenedMs: 0 }],
  };
}

/**
 * When checkLinkLiveness has something to do next (undefined: only a packet
 * changes anything). The widening fades, so the true deadline may come a little
 * earlier than this one: callers check at least every hello interval anyway.
 */
export function nextLivenessDeadlineMs(s: LinkLiveness, nowMs: number, policy: LivenessPolicy, localLateMs = 0): number | undefined {
  if (s.phase === 'alive' && s.lastHeardMs !== null) return s.lastHeardMs + lostAfterMs(policy) + widenMs(s, nowMs, policy, localLateMs);
  if (s.phase === 'lost' && s.lostSinceMs !== null) return nextRestartMs(s, policy, restartDelayMs(s, nowMs, policy, localLateMs));
  return undefined;
}

/** Probes per silence, evenly spaced over the last interval before the deadline. */
export const PROBES_PER_SILENCE = 4;

/**
 * When an alive link still silent gets its next probe (`sent`: probes already sent in this
 * silence; undefined: none left). A probe is a signed hello the peer answers at once; the
 * first goes one interval before the deadline, the others a quarter interval apart, so a
 * link is lost only when every probe's round trip failed too. A peer beating every other
 * interval (it knows we probe) leaves a link that missed one beat that long silent: with
 * independent loss p, a false verdict then takes about p⁵ (the beat and four round trips),
 * against 2p⁴ for three beats and one probe when every interval had a beat (the answer is a
 * signed hello and a beat, so it is lost only when both are).
 */
export function probeDueMs(s: LinkLiveness, nowMs: number, policy: LivenessPolicy, localLateMs = 0, sent = 0): number | undefined {
  if (s.phase !== 'alive' || sent >= PROBES_PER_SILENCE) return undefined;
  const deadlineMs = nextLivenessDeadlineMs(s, nowMs, policy, localLateMs);
  if (deadlineMs === undefined) return undefined;
  return deadlineMs - policy.helloIntervalMs + Math.round((sent * policy.helloIntervalMs) / PROBES_PER_SILENCE);
}

/**
 * Peers may beat to us every other interval (our hellos say `probes`) only when our deadline
 * holds at least this many intervals: one missed beat then leaves an interval for the probes.
 */
export const HALF_BEATS_MIN_MISSES = 4;

/**
 * When a lost link's openvpn end is restarted next: restartAfterMs after the loss, then backing off;
 * `delayMs` later still (restartDelayMs: the ends run late).
 */
export function nextRestartMs(s: LinkLiveness, policy: LivenessPolicy, delayMs = 0): number {
  if (s.lastRestartMs === null) return (s.lostSinceMs ?? 0) + policy.restartAfterMs + delayMs;
  const waitMs = Math.min(policy.restartMaxMs, policy.restartEveryMs * 2 ** Math.max(0, s.restarts - 1));
  return s.lastRestartMs + waitMs + delayMs;
}

/**
 * While this host or the peer runs late, a lost link is more likely a stall than a cut, and a
 * restart is a TLS handshake that starves the host further: restarts wait twice the late
 * widening longer (up to 16 s at the defaults).
 */
export function restartDelayMs(s: LinkLiveness, nowMs: number, policy: LivenessPolicy, localLateMs: number): number {
  return Math.round(2 * lateWidenMs(s, nowMs, policy, localLateMs));
}

/** "nothing heard for 1.0 s", the reason in the link-lost event line (and the widening, when it shows in tenths). */
export function lostReason(silentMs: number, widenedMs = 0): string {
  const base = `nothing heard for ${(silentMs / 1000).toFixed(1)} s`;
  const tenths = Math.round(widenedMs / 100);
  return tenths > 0 ? `${base}, deadline widened by ${(tenths / 10).toFixed(1)} s for late timers and past stalls` : base;
}
