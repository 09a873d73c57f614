// What every scenario returns: the facts it measured, the bounds they were
// judged against, and the bounds that did not hold in words (so a failing test
// or `lab scenario` says what was seen, not just "false").

export interface ScenarioResult {
  name: string;
  /** True exactly when `failures` is empty. */
  ok: boolean;
  summary: string;
  /** One line per bound that did not hold: what was wanted and what was seen. */
  failures: string[];
  [key: string]: unknown;
}

/** A bound and whether the measured fact meets it; `seen` describes the fact. */
export interface Check {
  holds: boolean;
  want: string;
  seen: string;
}

export function check(holds: boolean, want: string, seen: string): Check {
  return { holds, want, seen };
}

export function judge(checks: Check[]): { ok: boolean; failures: string[] } {
  const failures = checks.filter((c) => !c.holds).map((c) => `want ${c.want}; saw ${c.seen}`);
  return { ok: failures.length === 0, failures };
}

export const seconds = (ms: number | null): string => (ms === null ? 'never' : `${(ms / 1000).toFixed(1)} s`);

/**
 * Runs a wait that may time out; a timeout (RN_LAB_TIMEOUT/RN_LAB_UNREACHABLE)
 * is a measured fact, returned with its reason and the time spent; anything
 * else (a broken lab, a bug) is thrown.
 */
export async function timed<T>(wait: () => Promise<T>): Promise<{ value: T; ms: number } | { value: undefined; ms: null; reason: string }> {
  const t0 = Date.now();
  try {
    return { value: await wait(), ms: Date.now() - t0 };
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code !== 'RN_LAB_TIMEOUT' && code !== 'RN_LAB_UNREACHABLE') throw err;
    return { value: undefined, ms: null, reason: (err as Error).message.split('\n')[0] ?? String(err) };
  }
}
