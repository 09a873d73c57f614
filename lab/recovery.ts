// Measuring how a lab comes back after a fault: the time from the heal until
// every pair reaches again (one confirming round of pings included), or, when
// that does not happen within the cap, what was seen instead: which pairs
// still fail and which daemons are no longer running. Never throws for a
// behaviour that failed: it returns the facts and the caller judges them.
import type { LabError } from './errors.js';
import type { LabHandle } from './handle.js';
import { daemonRecord } from './orchestrate.js';
import { isRunning } from './procs.js';
import { missingPairs } from './reach.js';

export interface Recovery {
  /** ms from the heal until all pairs reached together; null when not within the cap. */
  recoveredMs: number | null;
  boundMs: number;
  withinBound: boolean;
  /** Ordered pairs that reached at the end (all of them when recovered). */
  reached: number;
  pairs: number;
  /** Pairs that did not reach at the end, "a->b". */
  missing: string[];
  /** Nodes whose daemon is not running at the end. */
  daemonsDown: string[];
}

/** Nodes whose latest daemon process is not running. */
export function daemonsDown(lab: LabHandle): string[] {
  return lab.nodes.filter((n) => {
    const rec = daemonRecord(lab.manifest, n.name);
    return !rec || !isRunning(rec);
  }).map((n) => n.name);
}

export async function measureRecovery(lab: LabHandle, options: { healedAtMs: number; boundMs: number; capMs: number; nodes?: string[] }): Promise<Recovery> {
  const names = options.nodes ?? lab.nodes.map((n) => n.name);
  const pairs = names.length * (names.length - 1);
  const remaining = Math.max(1_000, options.healedAtMs + options.capMs - Date.now());
  try {
    await lab.awaitAllPairs({ timeoutMs: remaining, nodes: names });
    const recoveredMs = Date.now() - options.healedAtMs;
    return { recoveredMs, boundMs: options.boundMs, withinBound: recoveredMs <= options.boundMs, reached: pairs, pairs, missing: [], daemonsDown: daemonsDown(lab) };
  } catch (err) {
    if ((err as LabError).code !== 'RN_LAB_UNREACHABLE') throw err;
    const missing = missingPairs(await lab.matrix(names), names).map(([a, b]) => `${a}->${b}`);
    return { recoveredMs: null, boundMs: options.boundMs, withinBound: false, reached: pairs - missing.length, pairs, missing, daemonsDown: daemonsDown(lab) };
  }
}

/** "all 25 pairs reach 4.2 s after the heal (bound 30 s)" or "NOT recovered within 60 s of the heal: 17/25 pairs reach (missing n2->n1 …); daemons down: n3". */
export function recoveryText(r: Recovery, capMs: number, since = 'the heal'): string {
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const down = r.daemonsDown.length > 0 ? `; daemons down: ${r.daemonsDown.join(', ')}` : '';
  if (r.recoveredMs !== null) return `all ${r.pairs} pairs reach ${s(r.recoveredMs)} after ${since} (bound ${s(r.boundMs)})${down}`;
  const shown = r.missing.slice(0, 8).join(' ') + (r.missing.length > 8 ? ' …' : '');
  return `NOT recovered within ${s(capMs)} of ${since}: ${r.reached}/${r.pairs} pairs reach (missing ${shown})${down}`;
}
