// Overlay reachability between lab nodes: one `fping` per source namespace
// probes every target (PREFIX::1) from a single process, with retries; parsing
// and the matrix text are pure. One process per source instead of one `ping`
// per pair: at 64 nodes a round was ~4,000 forks, a large part of the load the
// network was measured under.
import { LabError } from './errors.js';
import type { CommandRunner } from './exec.js';

export interface ReachNode {
  name: string;
  netns: string;
  overlay: string;
}

/** from → to → reached (a pair absent from the matrix was not measured) */
export type ReachMatrix = Record<string, Record<string, boolean>>;

/** fping's verdict lines "ADDR is alive" / "ADDR is unreachable" → addresses that answered. */
export function parseProbeOutput(text: string): Map<string, boolean> {
  const out = new Map<string, boolean>();
  for (const line of text.split('\n')) {
    const m = /^(\S+) is (alive|unreachable)$/.exec(line.trim());
    if (m?.[1]) out.set(m[1], m[2] === 'alive');
  }
  return out;
}

/**
 * fping's arguments: the first answer is awaited `waitSec`, then `retries` more
 * echo requests with a wait 1.5 times longer each (2 s, 3 s, 4.5 s): a reply that
 * crosses starved openvpn ends late still counts, a lost one is asked again.
 */
export function fpingArgs(addresses: readonly string[], waitSec: number, retries: number): string[] {
  return ['fping', '-6', '-r', String(retries), '-t', String(Math.round(waitSec * 1000)), '-B', '1.5', ...addresses];
}

/** The longest fping can take for `count` targets (the sends are 10 ms apart, the waits back off). */
function fpingWorstMs(count: number, waitSec: number, retries: number): number {
  let waits = 0;
  for (let i = 0, w = waitSec * 1000; i <= retries; i += 1, w *= 1.5) waits += w;
  return waits + 10 * count * (retries + 1);
}

/** fping's exit when it could not be run at all (not installed). */
export function fpingDidNotRun(r: { code: number; stderr: string }): boolean {
  return r.code === 127 || r.code === 255 || /No such file|not found/i.test(r.stderr);
}

export function fpingMissing(from: ReachNode, r: { code: number; stderr: string }): LabError {
  return new LabError('RN_LAB_TOOL_MISSING', `cannot probe the overlay from ${from.name}: fping did not run (${r.stderr.trim() || `exit ${r.code}`}). Install it with: apt-get install --no-install-recommends fping (or run scripts/setup.sh)`);
}

/**
 * Probes every target from one source. A target whose line never came (the
 * runner ran out of time: at a high load starting `ip netns exec` alone can
 * take seconds) is left out of the result: not measured, which is not "not reached".
 */
export async function probeFrom(runner: CommandRunner, from: ReachNode, targets: ReachNode[], waitSec = 2, retries = 2): Promise<Map<string, boolean>> {
  if (targets.length === 0) return new Map();
  const r = await runner.run(['ip', 'netns', 'exec', from.netns, ...fpingArgs(targets.map((t) => t.overlay), waitSec, retries)], {
    timeoutMs: Math.max(30_000, fpingWorstMs(targets.length, waitSec, retries) + 15_000),
  });
  const byAddr = parseProbeOutput(r.stdout);
  if (byAddr.size === 0 && fpingDidNotRun(r)) throw fpingMissing(from, r);
  return new Map(targets.filter((t) => byAddr.has(t.overlay)).map((t) => [t.name, byAddr.get(t.overlay) === true]));
}

/**
 * Probes the given pairs (default: all ordered pairs) and returns the matrix.
 * Sources run a few at a time (each is one fping process).
 */
export async function probeMatrix(
  runner: CommandRunner,
  nodes: ReachNode[],
  options: { pairs?: Array<[string, string]>; waitSec?: number; parallelSources?: number } = {},
): Promise<ReachMatrix> {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const wanted = options.pairs ?? allPairs(nodes.map((n) => n.name));
  const targetsBySource = new Map<string, ReachNode[]>();
  for (const [a, b] of wanted) {
    const t = byName.get(b);
    if (!t || !byName.has(a)) continue;
    targetsBySource.set(a, [...(targetsBySource.get(a) ?? []), t]);
  }
  const matrix: ReachMatrix = {};
  const sources = [...targetsBySource.keys()];
  const width = options.parallelSources ?? 8;
  for (let i = 0; i < sources.length; i += width) {
    await Promise.all(
      sources.slice(i, i + width).map(async (name) => {
        const from = byName.get(name);
        if (!from) return;
        const res = await probeFrom(runner, from, targetsBySource.get(name) ?? [], options.waitSec);
        matrix[name] = Object.fromEntries(res);
      }),
    );
  }
  return matrix;
}

export function allPairs(names: string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const a of names) for (const b of names) if (a !== b) out.push([a, b]);
  return out;
}

/** Ordered pairs that did not reach, as [from, to]. */
export function missingPairs(matrix: ReachMatrix, names: string[]): Array<[string, string]> {
  return allPairs(names).filter(([a, b]) => matrix[a]?.[b] !== true);
}

/** A square table: `+` reached, `.` not, `-` self. */
export function renderMatrix(matrix: ReachMatrix, names: string[]): string {
  const w = Math.max(4, ...names.map((n) => n.length + 1));
  const first = Math.max(8, ...names.map((n) => n.length + 1));
  const pad = (s: string) => s.padStart(w);
  const lines = [`${'from\\to'.padEnd(first)}${names.map(pad).join('')}`];
  for (const a of names) {
    lines.push(`${a.padEnd(first)}${names.map((b) => pad(a === b ? '-' : matrix[a]?.[b] ? '+' : '.')).join('')}`);
  }
  return lines.join('\n');
}
