// Keeps the detour routes of detours.ts in the kernel: `cover(IF)` before babel
// stops using a tunnel interface installs a detour for every destination that
// went through it; a sweep every few hundred ms removes each detour once babel
// routes its destination through another interface (babel's route then carries
// the traffic), when its neighbour no longer offers a safe route, or when it is
// too old. Detours carry their own route protocol number, so a daemon that was
// killed leaves nothing the next one cannot find and remove.
import type { Logger } from 'pino';
import type { BabelRoute } from '../babel/parse.js';
import { INFINITE_METRIC } from '../babel/table.js';
import type { Cancel, Clock } from '../sys/clock.js';
import { runFile } from '../sys/run-file.js';
import { babelRoutesAround, detourAddLine, detourDelLine, planDetours, type DetourRoute, type LastRoute } from './detours.js';

/** Route protocol number of detours (unassigned in iproute2's rt_protos). */
export const DETOUR_PROTO = 87;
/** Below babel's kernel metric (1024), so a detour wins while it exists. */
export const DETOUR_METRIC = 512;

export interface DetourRoutesDeps {
  clock: Clock;
  log: Pick<Logger, 'debug' | 'info' | 'warn'>;
  babel: {
    routes(): Iterable<BabelRoute>;
    /** Destinations whose installed route babel dropped a moment ago, with that route. */
    recentlyDropped(): ReadonlyMap<string, LastRoute>;
  };
  ownPrefix: string;
  /** Source address of the detours (the node address). */
  nodeAddress: string;
  /** Runs `ip -6 -batch -` with these lines (default: the real ip). */
  runBatch?: (lines: string[]) => Promise<{ ok: boolean; stderr: string }>;
  sweepIntervalMs?: number;
  maxAgeMs?: number;
}

interface Active {
  route: DetourRoute;
  sinceMs: number;
}

export class DetourRoutes {
  /** Interfaces babel is losing (or lost): their routes do not count as babel routing around. */
  private readonly leaving = new Set<string>();
  private readonly active = new Map<string, Active>();
  private cancelSweep: Cancel | undefined;
  private stopped = false;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly spec;

  constructor(private readonly deps: DetourRoutesDeps) {
    this.spec = { metric: DETOUR_METRIC, proto: DETOUR_PROTO, src: deps.nodeAddress };
  }

  /** Removes detours a killed daemon left (they carry our protocol number). */
  async start(): Promise<void> {
    await this.run([`route flush proto ${DETOUR_PROTO}`]);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelSweep?.();
    const prefixes = [...this.active.keys()];
    this.active.clear();
    await this.run([...prefixes.map((p) => detourDelLine(p, this.spec)), `route flush proto ${DETOUR_PROTO}`]);
  }

  /** Destinations through `ifName` with no safe other route yet (what a drain waits for). */
  uncovered(ifName: string): string[] {
    return this.plan(new Set([...this.leaving, ifName])).uncovered;
  }

  /**
   * `ifName` is about to stop (or stopped) carrying traffic: detours for every
   * destination through it. Resolves once they are in the kernel.
   */
  async cover(ifName: string, reason: string): Promise<{ detours: number; uncovered: string[] }> {
    if (this.stopped) return { detours: 0, uncovered: [] };
    this.leaving.add(ifName);
    const { detours, uncovered } = this.plan(this.leaving);
    const lines: string[] = [];
    const nowMs = this.deps.clock.nowMs();
    for (const d of detours) {
      const known = this.active.get(d.prefix);
      if (known && known.route.via === d.via && known.route.ifName === d.ifName) continue;
      this.active.set(d.prefix, { route: d, sinceMs: known?.sinceMs ?? nowMs });
      lines.push(detourAddLine(d, this.spec));
    }
    const none = uncovered.filter((p) => !detours.some((d) => d.prefix === p));
    if (lines.length > 0) {
      const list = detours.map((d) => `${d.prefix} via ${d.ifName}${d.safe ? '' : ' (may lead back: no safe route yet)'}`);
      this.deps.log.info({ iface: ifName, reason, detours: list, none }, 'detour routes installed');
      await this.run(lines);
    } else if (none.length > 0) {
      this.deps.log.info({ iface: ifName, reason, none }, 'no detour for some destinations');
    }
    this.scheduleSweep();
    return { detours: detours.length, uncovered };
  }

  /** The interface carries traffic again (link restored) or is gone for good (tunnel closed). */
  release(ifName: string): void {
    if (!this.leaving.delete(ifName)) return;
    this.scheduleSweep();
  }

  /** For tests and status: prefix → "via IF". */
  list(): DetourRoute[] {
    return [...this.active.values()].map((a) => a.route);
  }

  /** One sweep now (tests; the timer calls it). */
  async sweep(): Promise<void> {
    if (this.stopped || this.active.size === 0) return;
    const routes = [...this.deps.babel.routes()];
    const nowMs = this.deps.clock.nowMs();
    const maxAgeMs = this.deps.maxAgeMs ?? 30_000;
    const replan = new Map(this.plan(this.leaving).detours.map((d) => [d.prefix, d]));
    const lines: string[] = [];
    const removed: string[] = [];
    for (const [prefix, a] of this.active) {
      const around = babelRoutesAround(routes, prefix, this.leaving);
      // The better choice if babel's view changed, else the detour as it is while its neighbour still offers the route.
      const next = replan.get(prefix) ?? (stillOffered(routes, a.route, this.leaving) ? a.route : undefined);
      if (around || !next || nowMs - a.sinceMs >= maxAgeMs) {
        this.active.delete(prefix);
        lines.push(detourDelLine(prefix, this.spec));
        removed.push(`${prefix} (${around ? 'babel routes it' : !next ? 'no route left' : 'too old'})`);
      } else if (next.via !== a.route.via || next.ifName !== a.route.ifName) {
        a.route = next;
        lines.push(detourAddLine(next, this.spec));
      }
    }
    if (removed.length > 0) this.deps.log.info({ removed }, 'detour routes removed');
    if (lines.length > 0) await this.run(lines);
  }

  private plan(leaving: ReadonlySet<string>) {
    return planDetours(this.deps.babel.routes(), this.deps.babel.recentlyDropped(), leaving, { ownPrefix: this.deps.ownPrefix });
  }

  private scheduleSweep(): void {
    if (this.stopped || this.cancelSweep) return;
    this.cancelSweep = this.deps.clock.setTimeout(() => {
      this.cancelSweep = undefined;
      this.sweep()
        .catch((err: unknown) => this.deps.log.warn({ err }, 'detour sweep failed'))
        .finally(() => {
          if (this.active.size > 0) this.scheduleSweep();
        });
    }, this.deps.sweepIntervalMs ?? 250);
  }

  /** Batches run one at a time, in order (an add must not overtake the del before it). */
  private run(lines: string[]): Promise<void> {
    if (lines.length === 0) return Promise.resolve();
    const runBatch = this.deps.runBatch ?? ipBatch;
    const next = this.queue.then(async () => {
      const r = await runBatch(lines);
      if (!r.ok) this.deps.log.debug({ lines, stderr: r.stderr.trim() }, 'some detour route commands failed');
    });
    this.queue = next.catch(() => undefined);
    return next;
  }
}

function stillOffered(routes: readonly BabelRoute[], d: DetourRoute, leaving: ReadonlySet<string>): boolean {
  return !leaving.has(d.ifName) && routes.some((r) => r.prefix === d.prefix && r.via === d.via && r.ifName === d.ifName && r.metric < INFINITE_METRIC);
}

/** `ip -6 -force -batch -`: one process for many route changes; errors of single lines are reported, not fatal. */
export async function ipBatch(lines: string[]): Promise<{ ok: boolean; stderr: string }> {
  const r = await runFile('ip', ['-6', '-force', '-batch', '-'], { input: `${lines.join('\n')}\n` });
  return { ok: r.exitCode === 0, stderr: r.stderr };
}
