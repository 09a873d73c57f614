// Waiting for all-pairs overlay reachability, with progress, and a diagnosis
// when it does not come: which pairs fail and what the nodes see (their
// tunnels from `resilnet tunnels --json`, their babel routes).
import { setTimeout as delay } from 'node:timers/promises';
import { LabError } from './errors.js';
import type { CommandRunner } from './exec.js';
import type { LabManifest } from './manifest.js';
import { isRunning, lastLines } from './procs.js';
import { allPairs, probeMatrix } from './reach.js';
import { readRouteTables, splitByRoutes } from './route-check.js';
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
  /** When the round that saw the last missing pairs answer ended (the confirming round came after). */
  allReachedAtMs: number;
}

/** Resolves with the time it took; throws RN_LAB_UNREACHABLE with a diagnosis on timeout. */
export async function waitForAllPairs(runner: CommandRunner, m: LabManifest, options: ConvergeOptions): Promise<Converged> {
  const t0 = Date.now();
  const deadline = t0 + options.timeoutMs;
  const log = options.log ?? (() => undefined);
  const nodes = reachNodes(m).filter((n) => !options.nodes || options.nodes.includes(n.name));
  const names = nodes.map((n) => n.name);
  const wanted = (): Array<[string, string]> => allPairs(names).filter(([a, b]) => options.pairsWith === undefined || a === options.pairsWith || b === options.pairsWith);
  const total = wanted().length;
  let pending = wanted();
  let confirming = false;
  let allReachedAtMs = 0;
  let lastReported = -1;
  for (;;) {
    options.signal?.throwIfAborted();
    // A daemon that died will not converge: say so at once.
    for (const p of m.processes.filter((p) => p.role === 'daemon' && names.includes(p.host))) {
      const latest = m.processes.filter((q) => q.role === 'daemon' && q.host === p.host).at(-1);
      if (latest === p && !isRunning(p)) {
        throw new LabError('RN_LAB_UNREACHABLE', `daemon of ${p.host} (pid ${p.pid}) is not running: ${tail(p.log)}`, { details: { node: p.host } });
      }
    }
    // Pairs without routes both ways cannot answer: not pinged (route-check.ts).
    const { ping, unrouted } = splitByRoutes(pending, nodes, await readRouteTables(runner, nodes));
    const matrix = ping.length > 0 ? await probeMatrix(runner, nodes, { pairs: ping }) : {};
    for (const [a, b] of unrouted) (matrix[a] ??= {})[b] = false;
    const failed = pending.filter(([a, b]) => matrix[a]?.[b] === false);
    // Pairs whose probe did not finish (a loaded machine) are asked again, neither failed nor reached.
    const unmeasured = pending.filter(([a, b]) => matrix[a]?.[b] === undefined);
    if (failed.length === 0 && unmeasured.length > 0 && Date.now() < deadline) {
      pending = unmeasured;
      continue;
    }
    failed.push(...unmeasured);
    if (failed.length === 0) {
      if (confirming) return { elapsedMs: Date.now() - t0, allReachedAtMs };
      // Every pair answered at least once: one full round must pass together.
      confirming = true;
      allReachedAtMs = Date.now();
      pending = wanted();
      continue;
    }
    const reached = total - failed.length;
    if (reached !== lastReported) {
      log(`reach: ${reached}/${total} pairs${failed.length <= 6 ? ` (waiting for ${failed.map(([a, b]) => `${a}->${b}`).join(' ')})` : ''}`);
      lastReported = reached;
    }
    confirming = false;
    pending = failed;
    if (Date.now() >= deadline) {
      const diagnosis = await diagnose(runner, m, failed);
      throw new LabError(
        'RN_LAB_UNREACHABLE',
        `overlay did not converge in ${Math.round(options.timeoutMs / 1000)} s: ${failed.length}/${total} pairs do not reach (${failed
          .slice(0, 12)
          .map(([a, b]) => `${a}->${b}`)
          .join(' ')}${failed.length > 12 ? ' …' : ''}).\n${diagnosis}`,
        { details: { failed } },
      );
    }
    // poll interval: a ping to a missing route fails at once; with no route yet, the tables are read less often
    await delay(ping.length === 0 ? 1_000 : 250);
  }
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
