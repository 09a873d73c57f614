// Overlay reachability between lab nodes: one shell per source namespace pings
// every target in parallel (ping6 PREFIX::1); parsing and the matrix text are pure.
import type { CommandRunner } from './exec.js';

export interface ReachNode {
  name: string;
  netns: string;
  overlay: string;
}

/** from → to → reached (a pair absent from the matrix was not measured) */
export type ReachMatrix = Record<string, Record<string, boolean>>;

const PROBE_SCRIPT =
  'for a in "$@"; do (if ping -6 -n -q -c 1 -W "$W" "$a" >/dev/null 2>&1; then echo "ok $a"; else echo "no $a"; fi) & done; wait';

/** Lines "ok ADDR" / "no ADDR" → addresses that answered. */
export function parseProbeOutput(text: string): Map<string, boolean> {
  const out = new Map<string, boolean>();
  for (const line of text.split('\n')) {
    const m = /^(ok|no) (\S+)$/.exec(line.trim());
    if (m?.[2]) out.set(m[2], m[1] === 'ok');
  }
  return out;
}

/**
 * Pings every target from one source. A target whose line never came (the
 * runner ran out of time: at a high load starting `ip netns exec` alone can
 * take seconds) is left out of the result: not measured, which is not "not reached".
 */
export async function probeFrom(runner: CommandRunner, from: ReachNode, targets: ReachNode[], waitSec = 2): Promise<Map<string, boolean>> {
  if (targets.length === 0) return new Map();
  const r = await runner.run(
    ['ip', 'netns', 'exec', from.netns, 'env', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', `W=${waitSec}`, 'sh', '-c', PROBE_SCRIPT, 'sh', ...targets.map((t) => t.overlay)],
    { timeoutMs: Math.max(30_000, (waitSec + 10) * 1000 + 250 * targets.length) },
  );
  const byAddr = parseProbeOutput(r.stdout);
  return new Map(targets.filter((t) => byAddr.has(t.overlay)).map((t) => [t.name, byAddr.get(t.overlay) === true]));
}

/**
 * Probes the given pairs (default: all ordered pairs) and returns the matrix.
 * Sources run a few at a time so a 32-node lab does not fork 1000 pings at once.
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
