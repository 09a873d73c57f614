// What the daemon wants babeld to run (desired) against what babeld confirmed
// (applied), and the next idempotent statement that closes the gap. Pure: the
// reconciler (reconciler.ts) sends the statements, feeds each outcome back with
// afterStep, and corrects its picture from babeld's own `dump` with afterDump.
//
// babeld 1.12.1 facts this relies on (docs/decisions.md D2, measured):
// - `interface IF …` on an interface babeld already runs is answered ok but not
//   applied, so a changed interface is flushed first and then added again;
// - `flush interface IF` for an interface babeld does not know answers
//   `no No such interface`: the wanted outcome, not an error;
// - a statement written on a connection we gave up on (timeout) is still carried
//   out when babeld runs again, so after a failure nothing is taken for granted;
// - that ignored `interface IF … rxcost N` is still merged into the configuration
//   babeld keeps for an interface it added at runtime, and babeld reads that
//   configuration again whenever it sees the link come up. So a new cost can
//   be applied live without a flush (docs/decisions.md D6): `set` the cost,
//   then `bounce` the link (down until babeld notices, up again). Unlike a
//   flush, a bounce keeps the interface's hello seqno and its neighbours, so the
//   peer sees the new cost in our next IHU instead of a link that restarted.
import { PLACEHOLDER_INTERFACE, defaultHelloLine, drainInterfaceLine, DRAIN_RXCOST, flushInterfaceLine, interfaceLine, NORMAL_RXCOST } from './argv.js';

export interface DesiredInterface {
  /** Drained: added with the drain rxcost. */
  draining: boolean;
  /** Link liveness took it away: babeld must not run on it until resumed. */
  suspended: boolean;
}

export interface DesiredBabel {
  helloSec: number;
  /** Tunnel interfaces the daemon wants babel on (suspended ones stay listed). */
  interfaces: ReadonlyMap<string, DesiredInterface>;
}

/**
 * An interface babeld runs, as it was added; 'unknown' after a statement about it went unanswered.
 * `rxcost` null: babeld's default (NORMAL_RXCOST). `stored`: the rxcost a `set` put into babeld's
 * configuration of the interface, applied at the next bounce (absent: the same as `rxcost`).
 */
export type AppliedInterface = { helloSec: number; rxcost: number | null; stored?: number | null } | 'unknown';

export interface AppliedBabel {
  /** The default hello interval babeld confirmed, null when not confirmed since it started. */
  defaultHelloSec: number | null;
  /** Interfaces babeld runs (absent: it does not run on it). */
  interfaces: ReadonlyMap<string, AppliedInterface>;
}

export type BabelStep =
  | { kind: 'default'; helloSec: number; line: string }
  | { kind: 'add'; ifName: string; helloSec: number; rxcost: number | null; line: string }
  | { kind: 'flush'; ifName: string; line: string }
  /** `interface …` with a new rxcost on a live interface: answered ok, kept, not applied yet. */
  | { kind: 'set'; ifName: string; rxcost: number; line: string }
  /** Link down until babeld notices, then up: babeld applies the stored configuration. Not a socket statement (`line` describes it). */
  | { kind: 'bounce'; ifName: string; rxcost: number; line: string };

/** How the planner may change the cost of a live interface: only by flush + add, or by set + bounce. */
export interface StepOptions {
  liveCost: boolean;
}

const FLUSH_ONLY: StepOptions = { liveCost: false };

/** How babeld answered a step: ok, "no such interface" (flush only), or no usable answer. */
export type StepOutcome = 'ok' | 'gone' | 'failed';

/** babeld as it starts: nothing confirmed, no runtime interfaces. */
export function emptyApplied(): AppliedBabel {
  return { defaultHelloSec: null, interfaces: new Map() };
}

/** How babeld should run an interface, or null when it should not run on it at all. */
export function wantedInterface(desired: DesiredBabel, ifName: string): { helloSec: number; rxcost: number | null } | null {
  const d = desired.interfaces.get(ifName);
  if (!d || d.suspended) return null;
  return { helloSec: desired.helloSec, rxcost: d.draining ? DRAIN_RXCOST : null };
}

function effectiveRxcost(rxcost: number | null): number {
  return rxcost ?? NORMAL_RXCOST;
}

function sameInterface(a: AppliedInterface | undefined, b: { helloSec: number; rxcost: number | null }): boolean {
  return a !== undefined && a !== 'unknown' && a.helloSec === b.helloSec && effectiveRxcost(a.rxcost) === effectiveRxcost(b.rxcost);
}

/** The cost step for a live interface whose only difference is its cost: set it, then bounce to apply it. */
function liveCostStep(ifName: string, have: { helloSec: number; rxcost: number | null; stored?: number | null }, rxcost: number): BabelStep {
  const stored = have.stored === undefined ? have.rxcost : have.stored;
  if (effectiveRxcost(stored) !== rxcost) return { kind: 'set', ifName, rxcost, line: drainInterfaceLine(ifName, have.helloSec, rxcost) };
  return { kind: 'bounce', ifName, rxcost, line: `bounce link ${ifName} (rxcost ${rxcost})` };
}

/** Whether babeld runs an interface the way the daemon wants (absent when not wanted). */
export function interfaceHolds(desired: DesiredBabel, applied: AppliedBabel, ifName: string): boolean {
  const want = wantedInterface(desired, ifName);
  const have = applied.interfaces.get(ifName);
  return want === null ? have === undefined : sameInterface(have, want);
}

/** Whether babeld runs the desired hello interval: as its default and on every interface it should run. */
export function helloHolds(desired: DesiredBabel, applied: AppliedBabel): boolean {
  if (applied.defaultHelloSec !== desired.helloSec) return false;
  for (const ifName of desired.interfaces.keys()) {
    const want = wantedInterface(desired, ifName);
    if (want !== null && !sameInterface(applied.interfaces.get(ifName), want)) return false;
  }
  return true;
}

/** The next statement towards the desired state, or undefined when babeld runs it already. */
export function nextBabelStep(desired: DesiredBabel, applied: AppliedBabel, options: StepOptions = FLUSH_ONLY): BabelStep | undefined {
  if (applied.defaultHelloSec !== desired.helloSec) {
    return { kind: 'default', helloSec: desired.helloSec, line: defaultHelloLine(desired.helloSec) };
  }
  const names = [...desired.interfaces.keys(), ...[...applied.interfaces.keys()].filter((n) => !desired.interfaces.has(n))];
  for (const ifName of names) {
    const want = wantedInterface(desired, ifName);
    const have = applied.interfaces.get(ifName);
    if (want === null) {
      if (have !== undefined) return { kind: 'flush', ifName, line: flushInterfaceLine(ifName) };
      continue;
    }
    if (have === undefined) {
      const line = want.rxcost === null ? interfaceLine(ifName, want.helloSec) : drainInterfaceLine(ifName, want.helloSec, want.rxcost);
      return { kind: 'add', ifName, helloSec: want.helloSec, rxcost: want.rxcost, line };
    }
    if (sameInterface(have, want)) continue;
    // Only the cost differs: change it live, keeping the neighbours (a drain or its undoing).
    if (options.liveCost && have !== 'unknown' && have.helloSec === want.helloSec) return liveCostStep(ifName, have, effectiveRxcost(want.rxcost));
    // babeld ignores `interface` for an interface it runs: take it away first, then add it as wanted.
    return { kind: 'flush', ifName, line: flushInterfaceLine(ifName) };
  }
  return undefined;
}

/** The applied state after babeld answered a step. */
export function afterStep(applied: AppliedBabel, step: BabelStep, outcome: StepOutcome): AppliedBabel {
  if (step.kind === 'default') {
    return { ...applied, defaultHelloSec: outcome === 'ok' ? step.helloSec : null };
  }
  const interfaces = new Map(applied.interfaces);
  const have = interfaces.get(step.ifName);
  if (outcome === 'failed') interfaces.set(step.ifName, 'unknown');
  else if (step.kind === 'flush') interfaces.delete(step.ifName);
  else if (step.kind === 'set' || step.kind === 'bounce') {
    if (have === undefined || have === 'unknown') interfaces.set(step.ifName, 'unknown');
    else if (step.kind === 'set') interfaces.set(step.ifName, { helloSec: have.helloSec, rxcost: have.rxcost, stored: step.rxcost });
    else interfaces.set(step.ifName, { helloSec: have.helloSec, rxcost: step.rxcost });
  }
  else if (outcome === 'ok') interfaces.set(step.ifName, { helloSec: step.helloSec, rxcost: step.rxcost });
  else interfaces.set(step.ifName, 'unknown'); // "gone" is no answer to an add
  return { ...applied, interfaces };
}

/**
 * Corrects the applied state from the interfaces a `dump` lists: one babeld no
 * longer runs is absent; one it runs that we did not know of is 'unknown' (a late
 * statement may have added it with other settings), so it is flushed or re-added.
 */
export function afterDump(applied: AppliedBabel, present: Iterable<string>): AppliedBabel {
  const seen = new Set(present);
  seen.delete(PLACEHOLDER_INTERFACE);
  const interfaces = new Map<string, AppliedInterface>();
  for (const [ifName, state] of applied.interfaces) if (seen.has(ifName)) interfaces.set(ifName, state);
  for (const ifName of seen) if (!interfaces.has(ifName)) interfaces.set(ifName, 'unknown');
  return { ...applied, interfaces };
}

/** Every statement still to send, in order, assuming each is answered ok (for status and reports). */
export function pendingSteps(desired: DesiredBabel, applied: AppliedBabel, options: StepOptions = FLUSH_ONLY, max = 64): BabelStep[] {
  const out: BabelStep[] = [];
  let state = applied;
  for (let step = nextBabelStep(desired, state, options); step && out.length < max; step = nextBabelStep(desired, state, options)) {
    out.push(step);
    state = afterStep(state, step, 'ok');
  }
  return out;
}
