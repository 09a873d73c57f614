// Waiting for all-pairs overlay reachability, with progress, and a diagnosis
// when it does not come: which pairs fail and what the nodes see (their
// tunnels from `resilnet tunnels --json`, their babel routes). Each pair is
// timed by its first answered echo (first-reach.ts); then one round of the
// patient probe (reach.ts, retries over ~10 s) must find all pairs together.
import { LabError } from './errors.js';
import type { CommandRunner } from './exec.js';
import type { LabManifest } from './manifest.js';
import { isRunning, lastLines } from './procs.js';
import { pairKey, watchFirstReach } from './first-reach.js';
import { allPairs, probeMatrix, type ReachNode } from './reach.js';
import { nodeCliJson, reachNodes } from './status.js';

export interface ConvergeOptions {
  timeoutMs: number;
  log?: (line: string) => void;
  root?: string;
  /** Only these nodes (default: all with an overlay address). */
  nodes?: string[];
  /** Only the pairs from and to this node (a node joining a running network). */
  pairsWith?: string;
  signal?: AbortSignal;
}

function tail(path: string, n = 3): string {
  return lastLines(path, n) || '(no log)';
}

export interface Converged {
  /** Until a full round found every pair reaching, right after the round that first saw them all. */
  elapsedMs: number;
  /** When the last pair to reach was first seen reaching: the send time of its first answered echo (first-reach.ts; the confirming round came after). */
  allReachedAtMs: number;
}

/** Resolves with the time it took; throws RN_LAB_UNREACHABLE with a diagnosis on timeout. */
export async function waitForAllPairs(runner: CommandRunner, m: LabManifest, options: ConvergeOptions): Promise<Converged> {
  const t0 = Date.now();
  const deadline = t0 + options.timeoutMs;
  const log = options.log ?? (() => undefined);
  const nodes = reachNodes(m).filter((n) => !options.nodes || options.nodes.includes(n.name));
  const names = nodes.map((n) => n.name);
  const all = allPairs(names).filter(([a, b]) => options.pairsWith === undefined || a === options.pairsWith || b === options.pairsWith);
  const reachedAt = new Map<string, number>();
  const ctx = { m, names, nodes, deadline, log, total: all.length, reachedAt, ...(options.signal ? { signal: options.signal } : {}) };
  let pending = all;
  for (;;) {
    // Until every pair not seen yet answered once, each timed by its first answered echo (first-reach.ts).
    const missing = await firstAnswers(pending, ctx);
    if (missing.length > 0) throw await unreachable(runner, m, missing, all.length, options.timeoutMs);
    // Then one full round of the patient probe must find them all reaching together.
    const matrix = await probeMatrix(runner, nodes, { pairs: all });
    const failed = all.filter(([a, b]) => matrix[a]?.[b] === false);
    const unmeasured = all.filter(([a, b]) => matrix[a]?.[b] === undefined);
    if (failed.length === 0 && unmeasured.length === 0) {
      const lastReachedMs = Math.max(...all.map(([a, b]) => reachedAt.get(pairKey(a, b)) ?? Date.now()));
      return { elapsedMs: Date.now() - t0, allReachedAtMs: all.length > 0 ? lastReachedMs : Date.now() };
    }
    for (const [a, b] of failed) reachedAt.delete(pairKey(a, b));
    if (failed.length > 0) log(progressLine(all.length - failed.length, all.length, failed));
    if (Date.now() >= deadline) throw await unreachable(runner, m, [...failed, ...unmeasured], all.length, options.timeoutMs);
    // Pairs whose probe did not finish (a loaded machine) are confirmed again, neither failed nor reached.
    pending = failed;
  }
}

interface WaitContext {
  m: LabManifest;
  names: string[];
  nodes: ReachNode[];
  deadline: number;
  log: (line: string) => void;
  total: number;
  reachedAt: Map<string, number>;
  signal?: AbortSignal;
}

/** Probes `pending` until each answered once or the deadline; returns the pairs that never did. */
async function firstAnswers(pending: Array<[string, string]>, ctx: WaitContext): Promise<Array<[string, string]>> {
  if (pending.length === 0) return [];
  const probe = watchFirstReach(ctx.nodes, pending);
  const left = (): Array<[string, string]> => pending.filter(([a, b]) => !probe.reachedAt.has(pairKey(a, b)));
  let timer: ReturnType<typeof setTimeout> | undefined;
  let reported = -1;
  try {
    return await new Promise((resolve, reject) => {
      probe.done.then(() => resolve([]), reject);
      // Every second: a daemon that died will not converge (say so at once), progress, the deadline.
      const tick = (): void => {
        try {
          ctx.signal?.throwIfAborted();
          assertDaemonsRunning(ctx.m, ctx.names);
        } catch (err) {
          return reject(err);
        }
        const missing = left();
        const reached = ctx.total - missing.length;
        if (reached !== reported) ctx.log(progressLine(reached, ctx.total, missing));
        reported = reached;
        if (Date.now() >= ctx.deadline) return resolve(missing);
        timer = setTimeout(tick, Math.min(1_000, Math.max(0, ctx.deadline - Date.now())));
      };
      tick();
    });
  } finally {
    clearTimeout(timer);
    probe.stop();
    for (const [k, v] of probe.reachedAt) ctx.reachedAt.set(k, v);
  }
}

function progressLine(reached: number, total: number, missing: ReadonlyArray<[string, string]>): string {
  return `reach: ${reached}/${total} pairs${missing.length > 0 && missing.length <= 6 ? ` (waiting for ${missing.map(([a, b]) => `${a}->${b}`).join(' ')})` : ''}`;
}

function assertDaemonsRunning(m: LabManifest, names: readonly string[]): void {
  for (const p of m.processes.filter((p) => p.role === 'daemon' && names.includes(p.host))) {
    const latest = m.processes.filter((q) => q.role === 'daemon' && q.host === p.host).at(-1);
    if (latest === p && !isRunning(p)) {
      throw new LabError('RN_LAB_UNREACHABLE', `daemon of ${p.host} (pid ${p.pid}) is not running: ${tail(p.log)}`, { details: { node: p.host } });
    }
  }
}

async function unreachable(runner: CommandRunner, m: LabManifest, failed: Array<[string, string]>, total: number, timeoutMs: number): Promise<LabError> {
  const diagnosis = await diagnose(runner, m, failed);
  return new LabError(
    'RN_LAB_UNREACHABLE',
    `overlay did not converge in ${Math.round(timeoutMs / 1000)} s: ${failed.length}/${total} pairs do not reach (${failed
      .slice(0, 12)
      .map(([a, b]) => `${a}->${b}`)
      .join(' ')}${failed.length > 12 ? ' …' : ''}).\n${diagnosis}`,
    { details: { failed } },
  );
}

/** One line per node involved in a failing pair: daemon state, tunnels, babel routes. */
export async function diagnose(runner: CommandRunner, m: LabManifest, failed: Array<[string, string]>): Promise<string> {
  const involved = [...new Set(failed.flat())].slice(0, 12);
  const byPrefix = new Map(m.nodes.map((n) => [n.prefix, n.name]));
  const lines = await Promise.all(
    involved.map(async (name) => {
      const rec = m.nodes.find((n) => n.name === name);
      const proc = m.processes.filter((p) => p.role === 'daemon' && p.host === name).at(-1);
      if (!rec) return `${name}: unknown`;
      if (!proc || !isRunning(proc)) return `${name}: daemon not running (${proc ? tail(proc.log) : 'never started'})`;
      const routes = await runner.run(['ip', '-n', rec.netns, '-6', 'route', 'show', 'proto', 'babel']);
      const via = routes.stdout.split('\n').filter((l) => l.includes(' via ')).length;
      let tunnels = '?';
      try {
        const t = (await nodeCliJson(runner, m, name, ['tunnels'])) as { tunnels?: Array<{ peer: string; state: string }> };
        tunnels = (t.tunnels ?? []).map((x) => `${byPrefix.get(x.peer) ?? x.peer}:${x.state}`).join(' ') || 'none';
      } catch (err) {
        tunnels = `(resilnet tunnels failed: ${(err as Error).message})`;
      }
      return `${name}: tunnels ${tunnels}; babel routes ${via}; log: ${tail(proc.log, 1)}`;
    }),
  );
  return lines.join('\n');
}
