// When each pair of lab nodes first reached: one `fping -D -l` per source probes its
// targets without pause, and the first answered echo of a pair gives the time it was
// seen reaching (the echo's send time: arrival minus round trip), to the grain of the
// echo period. A round-based probe timed a pair by the end of the round that saw it,
// and a round could start up to a second after the pair's routes came: the measure of
// a 3 s join was then a second too long. A source's fping stops once all its targets
// answered. Echoes are spread so all sources together send at most about a
// thousand a second (every 100 ms per pair for up to 100 pairs, less often beyond,
// every 4 s at 64 nodes): the probes must not be the load the network is measured
// under.
import { spawn, type ChildProcess } from 'node:child_process';
import { resolveArgv } from './preflight.js';
import { fpingDidNotRun, fpingMissing, type ReachNode } from './reach.js';

/** fping's arguments: echoes to every target `periodMs` apart without end, each awaited `waitMs`, every line time-stamped. */
export function fpingLoopArgs(addresses: readonly string[], periodMs: number, waitMs: number): string[] {
  return ['fping', '-6', '-D', '-l', '-i', '5', '-p', String(periodMs), '-t', String(waitMs), ...addresses];
}

/** One line of `fping -D` output: an answer, with the send time of its echo (ms since the epoch), or a time-out (null). Pure. */
export function parseStampedLine(line: string): { address: string; sentAtMs: number | null } | undefined {
  const m = /^\[(\d+(?:\.\d+)?)\]\s+(\S+)\s+:\s+\[\d+\],\s+(?:\d+ bytes,\s+(\d+(?:\.\d+)?) ms|timed out)/.exec(line.trim());
  if (!m?.[1] || !m[2]) return undefined;
  return { address: m[2], sentAtMs: m[3] === undefined ? null : Number(m[1]) * 1000 - Number(m[3]) };
}

/** The echo period per pair for `pairs` probed at once: 100 ms, longer beyond 100 pairs (a thousand echoes a second in all), at most 5 s. Pure. */
export function echoPeriodMs(pairs: number): number {
  return Math.min(5_000, Math.max(100, pairs));
}

export type SpawnProbe = (argv: string[]) => Pick<ChildProcess, 'stdout' | 'stderr' | 'kill' | 'on'>;

const spawnProbe: SpawnProbe = (argv) => {
  const [file, ...args] = resolveArgv(argv);
  return spawn(file ?? 'false', args, { stdio: ['ignore', 'pipe', 'pipe'] });
};

export const pairKey = (from: string, to: string): string => `${from}>${to}`;

export interface FirstReach {
  /** Resolves when every pair answered once; rejects when fping cannot run. */
  readonly done: Promise<void>;
  /** pairKey(from, to) → when that pair was first seen reaching. */
  readonly reachedAt: ReadonlyMap<string, number>;
  /** Stops every probe (idempotent). */
  stop(): void;
}

/** Starts probing `pairs` until each answered once, or stop(). */
export function watchFirstReach(nodes: readonly ReachNode[], pairs: ReadonlyArray<[string, string]>, options: { spawn?: SpawnProbe; waitMs?: number } = {}): FirstReach {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const bySource = new Map<string, ReachNode[]>();
  for (const [a, b] of pairs) {
    const t = byName.get(b);
    if (t && byName.has(a)) bySource.set(a, [...(bySource.get(a) ?? []), t]);
  }
  const periodMs = echoPeriodMs(pairs.length);
  const reachedAt = new Map<string, number>();
  const children = new Set<Pick<ChildProcess, 'kill'>>();
  let stopped = false;
  let finish: () => void = () => {};
  let fail: (err: unknown) => void = () => {};
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  let running = bySource.size;
  if (running === 0) finish();

  const probeSource = (from: ReachNode, targets: ReachNode[]): void => {
    const byAddr = new Map(targets.map((t) => [t.overlay, t]));
    const waiting = new Set(targets.map((t) => t.overlay));
    const child = (options.spawn ?? spawnProbe)(['ip', 'netns', 'exec', from.netns, ...fpingLoopArgs([...waiting], periodMs, options.waitMs ?? 3_000)]);
    children.add(child);
    let rest = '';
    let err = '';
    let answered = false;
    const end = (): void => {
      children.delete(child);
      child.kill('SIGTERM');
      running -= 1;
      if (running === 0) finish();
    };
    child.stdout?.on('data', (chunk: Buffer | string) => {
      const lines = (rest + String(chunk)).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        const r = parseStampedLine(line);
        const target = r && byAddr.get(r.address);
        if (!target || r.sentAtMs === null || !waiting.delete(r.address)) continue;
        answered = true;
        reachedAt.set(pairKey(from.name, target.name), r.sentAtMs);
      }
      if (waiting.size === 0 && children.has(child)) end();
    });
    // Only the start of stderr matters (why fping did not run); unroutable targets repeat errors there.
    child.stderr?.on('data', (chunk: Buffer | string) => {
      if (err.length < 4096) err += String(chunk);
    });
    child.on('error', (e: Error) => fail(fpingMissing(from, { code: 127, stderr: e.message })));
    child.on('exit', (code: number | null) => {
      if (!children.has(child)) return;
      children.delete(child);
      if (stopped) return;
      if (!answered && fpingDidNotRun({ code: code ?? 1, stderr: err })) return fail(fpingMissing(from, { code: code ?? 1, stderr: err }));
      // fping ended on its own (killed from outside, a crash): the targets still waiting are probed again.
      setTimeout(() => {
        if (!stopped) probeSource(from, targets.filter((t) => waiting.has(t.overlay)));
      }, 250);
    });
  };

  for (const [name, targets] of bySource) probeSource(byName.get(name)!, targets);
  return {
    done,
    reachedAt,
    stop: () => {
      stopped = true;
      for (const c of children) c.kill('SIGTERM');
      children.clear();
    },
  };
}
