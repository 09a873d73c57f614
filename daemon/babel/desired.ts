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
//   out when babeld runs again, so after a failure nothing is taken for granted.
import { PLACEHOLDER_INTERFACE, defaultHelloLine, drainInterfaceLine, DRAIN_RXCOST, flushInterfaceLine, interfaceLine } from './argv.js';

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

/** An interface babeld runs, as it was added; 'unknown' after a statement about it went unanswered. */
export type AppliedInterface = { helloSec: number; rxcost: number | null } | 'unknown';

export interface AppliedBabel {
  /** The default hello interval babeld confirmed, null when not confirmed since it started. */
  defaultHelloSec: number | null;
  /** Interfaces babeld runs (absent: it does not run on it). */
  interfaces: ReadonlyMap<string, AppliedInterface>;
}

export type BabelStep =
  | { kind: 'default'; helloSec: number; line: string }
  | { kind: 'add'; ifName: string; helloSec: number; rxcost: number | null; line: string }
  | { kind: 'flush'; ifName: string; line: string };

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

function sameInterface(a: AppliedInterface | undefined, b: { helloSec: number; rxcost: number | null }): boolean {
  return a !== undefined && a !== 'unknown' && a.helloSec === b.helloSec && a.rxcost === b.rxcost;
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
export function nextBabelStep(desired: DesiredBabel, applied: AppliedBabel): BabelStep | undefined {
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
    // babeld ignores `interface` for an interface it runs: take it away first, then add it as wanted.
    if (!sameInterface(have, want)) return { kind: 'flush', ifName, line: flushInterfaceLine(ifName) };
  }
  return undefined;
}

/** The applied state after babeld answered a step. */
export function afterStep(applied: AppliedBabel, step: BabelStep, outcome: StepOutcome): AppliedBabel {
  if (step.kind === 'default') {
    return { ...applied, defaultHelloSec: outcome === 'ok' ? step.helloSec : null };
  }
  const interfaces = new Map(applied.interfaces);
  if (outcome === 'failed') interfaces.set(step.ifName, 'unknown');
  else if (step.kind === 'flush') interfaces.delete(step.ifName);
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
export function pendingSteps(desired: DesiredBabel, applied: AppliedBabel, max = 64): BabelStep[] {
  const out: BabelStep[] = [];
  let state = applied;
  for (let step = nextBabelStep(desired, state); step && out.length < max; step = nextBabelStep(desired, state)) {
    out.push(step);
    state = afterStep(state, step, 'ok');
  }
  return out;
}
