// A drain moves traffic off a tunnel before it is closed (docs/decisions.md D6),
// as a pure step function: (state, observations, now) → next state and the
// actions to carry out. The tunnel manager runs it: it carries out the actions
// in order, then steps again at once, or after a short pause when there were none.
//
// Ours (the initiator): wait until every destination through the tunnel has
// another route (the replacement may still be opening), detour our traffic,
// announce, give up if the peer refuses, raise our cost, wait for the peer's ack,
// let babel hear the peer's raised cost, wait until no route uses the tunnel and
// babel reaches the peer another way, close. Given up late: cost restored, the
// peer told.
// The peer's (the follower): detour, wait until babel moved our routes off the
// tunnel (the peer's raised cost makes them expensive), raise our cost, ack,
// close our end at the announced time, or as soon as the peer's end has gone.

export interface DrainTiming {
  /** Babel has this long to move the routes once our cost is up. */
  timeoutMs: number;
  /** How long we wait for the peer's ack (0: not at all). */
  ackTimeoutMs: number;
  /** After the ack, time for the peer's raised cost to reach our babel. */
  settleMs: number;
  /** After announcing, time the peer has to refuse before our cost goes up. */
  objectionMs: number;
}

/** What the manager sees of the tunnel at each step. */
export interface DrainObservations {
  /** Destinations through the tunnel with no safe other route yet (0 without detours). */
  uncovered: number;
  /** Routes babel has installed through the tunnel now. */
  routeCount: number;
  /** Babel reaches the peer through another interface. */
  routedAround: boolean;
  /** When the peer acked our drain; null: not (yet). */
  ackAtMs: number | null;
  /** The peer refused our drain, or gave its own up. */
  cancelled: boolean;
  /** The tunnel is down: the peer's end said it exits, or link liveness lost it. */
  linkDown: boolean;
}

export type DrainAction =
  /** Detour routes for what goes through the tunnel (resolves once they are in the kernel). */
  | { kind: 'cover' }
  | { kind: 'announce'; closeInMs: number }
  | { kind: 'raise-cost' }
  | { kind: 'restore-cost' }
  /** A drain message to the peer: our routes left (ack), or our drain is given up (cancel). */
  | { kind: 'send'; phase: 'ack' | 'cancel' }
  | { kind: 'release-detours' }
  /** The drain is over and the tunnel stays: it carries traffic again. */
  | { kind: 'keep'; why: string }
  | { kind: 'close'; reason: string };

export type DrainPhase =
  // ours
  | 'wait-routes'
  | 'announce'
  | 'wait-objection'
  | 'raised'
  | 'wait-ack'
  | 'settle'
  | 'wait-around'
  // the peer's
  | 'follow'
  | 'detoured'
  | 'wait-moved'
  | 'follower-raised'
  | 'wait-close'
  // over
  | 'closed'
  | 'kept';

export interface DrainState {
  role: 'ours' | 'peer';
  phase: DrainPhase;
  /** Why the tunnel goes (the close reason). */
  reason: string;
  withDetours: boolean;
  timing: DrainTiming;
  /** Ours: the peer's close delay we announce. The peer's: the one it announced. */
  closeInMs: number;
  /** The end of the current wait (meaning depends on the phase). */
  untilMs: number;
  /** Ours: babel's deadline once the cost is up; the peer's: when our end closes anyway. */
  deadlineMs: number;
  ackByMs: number;
}

export interface DrainStep {
  state: DrainState;
  actions: DrainAction[];
}

/** At most this long waiting for other routes, and for the follower's routes to move. */
const MAX_WAIT_MS = 10_000;
/** The follower closes its end this long after the announced close time at the latest. */
const FOLLOWER_GRACE_MS = 5_000;
const MAX_CLOSE_IN_MS = 120_000;

/** How long the executor pauses before the next step when a step had no actions. */
export function drainPauseMs(state: DrainState): number {
  return state.phase === 'wait-objection' ? 50 : 250;
}

/** Whether the peer knows of the drain (ours announced, or the peer's): its ack or cancel counts only then. */
export function drainAnnounced(state: DrainState): boolean {
  return state.role === 'peer' || (state.phase !== 'wait-routes' && state.phase !== 'announce');
}

export function drainOver(state: DrainState): boolean {
  return state.phase === 'closed' || state.phase === 'kept';
}

/** A drain of ours. */
export function startDrain(reason: string, timing: DrainTiming, withDetours: boolean, nowMs: number): DrainState {
  return {
    role: 'ours',
    phase: withDetours ? 'wait-routes' : 'announce',
    reason,
    withDetours,
    timing,
    closeInMs: timing.timeoutMs,
    untilMs: nowMs + Math.min(timing.timeoutMs / 2, MAX_WAIT_MS),
    deadlineMs: Number.POSITIVE_INFINITY,
    ackByMs: Number.POSITIVE_INFINITY,
  };
}

/** Following the peer's drain, announced to close in `closeInMs`. */
export function followDrain(closeInMs: number, withDetours: boolean, nowMs: number): DrainState {
  const closeIn = Math.min(Math.max(closeInMs, 0), MAX_CLOSE_IN_MS);
  return {
    role: 'peer',
    phase: 'follow',
    reason: 'drained by the peer',
    withDetours,
    timing: { timeoutMs: closeIn, ackTimeoutMs: 0, settleMs: 0, objectionMs: 0 },
    closeInMs: closeIn,
    untilMs: nowMs,
    deadlineMs: nowMs + closeIn + FOLLOWER_GRACE_MS,
    ackByMs: Number.POSITIVE_INFINITY,
  };
}

/**
 * One step. Transitions without actions are followed within the same step;
 * one with actions ends it (the next step comes after they were carried out).
 */
export function stepDrain(state: DrainState, obs: DrainObservations, nowMs: number): DrainStep {
  let s = state;
  for (let i = 0; i < 16 && !drainOver(s); i++) {
    const next = transition(s, obs, nowMs);
    if (!next) break;
    s = next.state;
    if (next.actions.length > 0) return { state: s, actions: next.actions };
  }
  return { state: s, actions: [] };
}

function to(s: DrainState, phase: DrainPhase, fields: Partial<DrainState> = {}, actions: DrainAction[] = []): DrainStep {
  return { state: { ...s, ...fields, phase }, actions };
}

/** Ours given up after our cost went up: the tunnel carries traffic again and the peer is told. */
function giveUp(s: DrainState, why: string): DrainStep {
  return to(s, 'kept', {}, [{ kind: 'keep', why }, { kind: 'send', phase: 'cancel' }, { kind: 'restore-cost' }, { kind: 'release-detours' }]);
}

/** The next state, or undefined while the current wait goes on. */
function transition(s: DrainState, obs: DrainObservations, nowMs: number): DrainStep | undefined {
  switch (s.phase) {
    case 'wait-routes':
      if (obs.uncovered > 0 && nowMs < s.untilMs) return undefined;
      return to(s, 'announce', {}, [{ kind: 'cover' }]);
    case 'announce':
      return to(s, 'wait-objection', { untilMs: nowMs + s.timing.objectionMs }, [{ kind: 'announce', closeInMs: s.closeInMs }]);
    case 'wait-objection':
      // Nothing has changed yet, so giving up costs nothing.
      if (obs.cancelled) return to(s, 'kept', {}, [{ kind: 'keep', why: 'the peer refused' }, { kind: 'release-detours' }]);
      if (nowMs < s.untilMs) return undefined;
      return to(s, 'raised', {}, [{ kind: 'raise-cost' }]);
    case 'raised': {
      const deadlineMs = nowMs + s.timing.timeoutMs;
      return to(s, 'wait-ack', { deadlineMs, ackByMs: Math.min(deadlineMs, nowMs + s.timing.ackTimeoutMs) });
    }
    case 'wait-ack':
      if (obs.cancelled) return giveUp(s, 'the peer refused late');
      if (obs.ackAtMs !== null) return to(s, 'settle', { untilMs: Math.min(s.deadlineMs, obs.ackAtMs + s.timing.settleMs) });
      if (nowMs < s.ackByMs) return undefined;
      return to(s, 'wait-around');
    case 'settle':
      if (obs.cancelled) return giveUp(s, 'the peer refused late');
      if (nowMs < s.untilMs) return undefined;
      return to(s, 'wait-around');
    case 'wait-around':
      if (obs.cancelled) return giveUp(s, 'the peer refused late');
      if ((obs.routeCount > 0 || !obs.routedAround) && nowMs < s.deadlineMs) return undefined;
      // Closing would cut the peer off (other drains may have taken its other links): keep the tunnel.
      if (!obs.routedAround) return giveUp(s, 'babel has no other route to the peer');
      return to(s, 'closed', {}, [{ kind: 'close', reason: s.reason }]);
    default:
      return followerTransition(s, obs, nowMs);
  }
}

function followerTransition(s: DrainState, obs: DrainObservations, nowMs: number): DrainStep | undefined {
  if (obs.cancelled) return to(s, 'kept', {}, [{ kind: 'keep', why: 'the peer gave its drain up' }, { kind: 'restore-cost' }, { kind: 'release-detours' }]);
  if (s.phase !== 'wait-close' && nowMs >= s.deadlineMs) return to(s, 'closed', {}, [{ kind: 'close', reason: s.reason }]);
  switch (s.phase) {
    case 'follow':
      return s.withDetours ? to(s, 'detoured', {}, [{ kind: 'cover' }]) : to(s, 'detoured');
    case 'detoured':
      return to(s, 'wait-moved', { untilMs: nowMs + Math.min(s.closeInMs / 2, MAX_WAIT_MS) });
    case 'wait-moved':
      // The peer's raised cost moves our routes off the tunnel without dropping anything;
      // raising ours then withdraws nothing.
      if (obs.routeCount > 0 && nowMs < s.untilMs) return undefined;
      return to(s, 'follower-raised', {}, [{ kind: 'raise-cost' }]);
    case 'follower-raised':
      return to(s, 'wait-close', {}, [{ kind: 'send', phase: 'ack' }]);
    case 'wait-close':
      // The peer's end went first: nothing is left to wait for (our end would only be
      // restarted by link liveness meanwhile).
      if (nowMs < s.deadlineMs && !obs.linkDown) return undefined;
      return to(s, 'closed', {}, [{ kind: 'close', reason: s.reason }]);
    default:
      return undefined;
  }
}
