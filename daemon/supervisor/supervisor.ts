// Keeps named children running: restart with backoff after any exit it did not ask
// for, a crash-loop event when a child keeps failing, SIGTERM→SIGKILL on stop, and
// RUN_DIR/children.json kept in step with the live children.
import { rmSync } from 'node:fs';
import type { Clock, Cancel } from '../sys/clock.js';
import type { Child, ChildExit, ChildSpec, Spawner } from '../sys/spawner.js';
import { ResilnetError } from '../../config/errors.js';
import { nextRestartDelayMs } from './backoff.js';
import { writeChildrenFile, type ChildRecord } from './children-file.js';
import { realProcAccess, type ProcAccess } from './proc.js';

export type SupervisorEvent =
  | { kind: 'child-started'; name: string; pid: number; argv: string[]; restarts: number }
  | {
      kind: 'child-exited';
      name: string;
      /** null when the process could not be started at all (see `spawnError`). */
      pid: number | null;
      code: number | null;
      signal: NodeJS.Signals | null;
      /** Delay before the next start, or null when the child is not restarted (it was stopped). */
      restartInMs: number | null;
      /** Consecutive failures counted for the backoff, including this one. */
      failures: number;
      /** How long this run lasted. */
      ranForMs: number;
      spawnError?: string;
      /** It exited because the daemon asked for a restart (`restart(name)`): not a failure. */
      asked?: true;
    }
  | {
      kind: 'child-crash-loop';
      name: string;
      pid: number | null;
      code: number | null;
      signal: NodeJS.Signals | null;
      failures: number;
      restartInMs: number;
    };

export type SupervisorListener = (event: SupervisorEvent) => void;
/** Every stdout/stderr line of every child, with the child's name (for the daemon's log). */
export interface OutputListener {
  line(name: string, line: string, pid: number): void;
  /** The run's output is over (both pipes drained, after its exit at the earliest: late lines come first). */
  end?(name: string, pid: number): void;
}

export interface SupervisorDeps {
  spawner: Spawner;
  clock: Clock;
  /** Where children.json is kept; without it nothing is recorded. */
  runDir?: string;
  proc?: ProcAccess;
}

export interface SupervisorOptions {
  /** Time between SIGTERM and SIGKILL in stop(). */
  stopGraceMs: number;
  /** A run at least this long resets the failure count. */
  stableRunMs: number;
  /** Consecutive failures that make a crash loop (the event fires once per loop). */
  crashLoopFailures: number;
}

export const defaultSupervisorOptions: SupervisorOptions = {
  stopGraceMs: 5000,
  stableRunMs: 60_000,
  crashLoopFailures: 5,
};

export interface StartOptions {
  /** Receives every stdout/stderr line of every run of this child. */
  onLine?: (line: string, pid: number) => void;
}

export interface ChildStatus {
  name: string;
  /** starting: its `beforeLaunch` has not finished yet. */
  state: 'starting' | 'running' | 'backoff' | 'stopping';
  pid: number | null;
  argv: string[];
  startedAtMs: number | null;
  restarts: number;
  failures: number;
}

interface Entry {
  spec: ChildSpec;
  options: StartOptions;
  child: Child | undefined;
  startTime: string | undefined;
  startedAtMs: number;
  restarts: number;
  failures: number;
  crashLoopReported: boolean;
  stopping: Promise<void> | undefined;
  restartTimer: Cancel | undefined;
  /** Set by restart(): the next exit is intended and restarts at once without counting a failure. */
  restartRequested: boolean;
  /** An async `beforeLaunch` is running: the spawn follows it. */
  launching: boolean;
}

export class Supervisor {
  private readonly entries = new Map<string, Entry>();
  private readonly listeners = new Set<SupervisorListener>();
  private readonly outputListeners = new Set<OutputListener>();
  private readonly options: SupervisorOptions;
  private readonly proc: ProcAccess;

  constructor(private readonly deps: SupervisorDeps, options: Partial<SupervisorOptions> = {}) {
    this.options = { ...defaultSupervisorOptions, ...options };
    this.proc = deps.proc ?? realProcAccess;
  }

  /** Subscribes to events; returns the unsubscribe function. */
  on(listener: SupervisorListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Subscribes to every child's output lines; returns the unsubscribe function. */
  onOutput(listener: OutputListener): () => void {
    this.outputListeners.add(listener);
    return () => this.outputListeners.delete(listener);
  }

  /** Starts supervising a child under a unique name (spawns it now). */
  start(spec: ChildSpec, options: StartOptions = {}): void {
    if (this.entries.has(spec.name)) {
      throw new ResilnetError('RN_CHILD_DUPLICATE', `cannot supervise child: ${spec.name} (a child with that name is already supervised). Stop it first.`);
    }
    const entry: Entry = {
      spec: { ...spec, argv: [...spec.argv] },
      options,
      child: undefined,
      startTime: undefined,
      startedAtMs: this.deps.clock.nowMs(),
      restarts: 0,
      failures: 0,
      crashLoopReported: false,
      stopping: undefined,
      restartTimer: undefined,
      restartRequested: false,
      launching: false,
    };
    this.entries.set(spec.name, entry);
    this.launch(entry);
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  pid(name: string): number | undefined {
    return this.entries.get(name)?.child?.pid;
  }

  list(): ChildStatus[] {
    return [...this.entries.values()].map((e) => ({
      name: e.spec.name,
      state: e.stopping ? 'stopping' : e.child ? 'running' : e.launching ? 'starting' : 'backoff',
      pid: e.child?.pid ?? null,
      argv: [...e.spec.argv],
      startedAtMs: e.child ? e.startedAtMs : null,
      restarts: e.restarts,
      failures: e.failures,
    }));
  }

  /**
   * Stops a child and forgets it: SIGTERM, then SIGKILL after the grace period.
   * Resolves once it has exited. Unknown names resolve at once.
   */
  stop(name: string): Promise<void> {
    const entry = this.entries.get(name);
    if (!entry) return Promise.resolve();
    if (entry.stopping) return entry.stopping;
    entry.restartTimer?.();
    entry.restartTimer = undefined;
    const child = entry.child;
    if (!child) {
      this.entries.delete(name);
      this.record();
      return Promise.resolve();
    }
    entry.stopping = this.terminate(child).then(() => undefined);
    return entry.stopping;
  }

  /**
   * Stops every child: those named in `order` one after the other (e.g. babeld first,
   * so its retractions go out while the tunnels still exist), then the rest together.
   */
  async stopAll(order: string[] = []): Promise<void> {
    for (const name of order) await this.stop(name);
    await Promise.all([...this.entries.keys()].map((name) => this.stop(name)));
  }

  /** Restarts a running child now (SIGTERM→SIGKILL, then an immediate start, no failure counted). */
  async restart(name: string): Promise<void> {
    const entry = this.entries.get(name);
    if (!entry || entry.stopping || entry.launching) return;
    if (!entry.child) {
      entry.restartTimer?.();
      entry.restartTimer = undefined;
      this.launch(entry);
      return;
    }
    entry.restartRequested = true;
    await this.terminate(entry.child);
  }

  private terminate(child: Child): Promise<ChildExit> {
    child.kill('SIGTERM');
    const cancelKill = this.deps.clock.setTimeout(() => {
      child.kill('SIGKILL');
    }, this.options.stopGraceMs);
    return child.exited.then((exit) => {
      cancelKill();
      return exit;
    });
  }

  private launch(entry: Entry): void {
    entry.restartTimer = undefined;
    let before: Promise<void> | void;
    try {
      for (const path of entry.spec.staleFiles ?? []) rmSync(path, { force: true });
      before = entry.spec.beforeLaunch?.();
    } catch (err) {
      return this.spawnFailed(entry, this.deps.clock.nowMs(), err);
    }
    if (!before) return this.spawn(entry);
    // The event loop goes on meanwhile; a stop or a new child under the name cancels the spawn.
    entry.launching = true;
    void before
      .catch(() => undefined)
      .then(() => {
        entry.launching = false;
        if (this.entries.get(entry.spec.name) === entry && !entry.stopping) this.spawn(entry);
      });
  }

  private spawnFailed(entry: Entry, startedAtMs: number, err: unknown): void {
    entry.child = undefined;
    entry.startedAtMs = startedAtMs;
    this.afterExit(entry, null, { code: null, signal: null }, err instanceof Error ? err.message : String(err));
  }

  private spawn(entry: Entry): void {
    const startedAtMs = this.deps.clock.nowMs();
    let child: Child;
    try {
      child = this.deps.spawner.spawn(entry.spec);
    } catch (err) {
      return this.spawnFailed(entry, startedAtMs, err);
    }
    entry.child = child;
    entry.startedAtMs = startedAtMs;
    entry.startTime = this.proc.startTime(child.pid);
    this.record();
    this.emit({ kind: 'child-started', name: entry.spec.name, pid: child.pid, argv: [...entry.spec.argv], restarts: entry.restarts });
    void this.pumpLines(entry, child);
    void child.exited.then((exit) => {
      if (entry.child === child) {
        entry.child = undefined;
        this.afterExit(entry, child.pid, exit, undefined);
      }
    });
  }

  private async pumpLines(entry: Entry, child: Child): Promise<void> {
    try {
      for await (const line of child.lines) {
        // A failing line consumer must not stop the draining (the child would block on a full pipe).
        for (const listener of this.outputListeners) swallow(() => listener.line(entry.spec.name, line, child.pid));
        swallow(() => entry.options.onLine?.(line, child.pid));
      }
    } catch {
      // The stream ended abnormally; the exit handler covers the child's fate.
    }
    for (const listener of this.outputListeners) swallow(() => listener.end?.(entry.spec.name, child.pid));
  }

  private afterExit(entry: Entry, pid: number | null, exit: ChildExit, spawnError: string | undefined): void {
    const name = entry.spec.name;
    const nowMs = this.deps.clock.nowMs();
    const ranForMs = nowMs - entry.startedAtMs;
    if (entry.stopping || this.entries.get(name) !== entry) {
      this.entries.delete(name);
      this.record();
      this.emit({ kind: 'child-exited', name, pid, code: exit.code, signal: exit.signal, restartInMs: null, failures: entry.failures, ranForMs });
      return;
    }
    let restartInMs: number;
    const asked = entry.restartRequested;
    if (entry.restartRequested) {
      entry.restartRequested = false;
      restartInMs = 0;
    } else {
      if (spawnError === undefined && ranForMs >= this.options.stableRunMs) {
        entry.failures = 0;
        entry.crashLoopReported = false;
      }
      entry.failures++;
      restartInMs = nextRestartDelayMs(entry.failures);
    }
    this.record();
    this.emit({
      kind: 'child-exited',
      name,
      pid,
      code: exit.code,
      signal: exit.signal,
      restartInMs,
      failures: entry.failures,
      ranForMs,
      ...(spawnError === undefined ? {} : { spawnError }),
      ...(asked ? { asked: true as const } : {}),
    });
    if (entry.failures >= this.options.crashLoopFailures && !entry.crashLoopReported) {
      entry.crashLoopReported = true;
      this.emit({ kind: 'child-crash-loop', name, pid, code: exit.code, signal: exit.signal, failures: entry.failures, restartInMs });
    }
    entry.restarts++;
    entry.restartTimer = this.deps.clock.setTimeout(() => {
      if (this.entries.get(name) === entry && !entry.stopping) this.launch(entry);
    }, restartInMs);
  }

  private record(): void {
    if (this.deps.runDir === undefined) return;
    const live: ChildRecord[] = [];
    for (const e of this.entries.values()) {
      if (!e.child) continue;
      live.push({
        name: e.spec.name,
        pid: e.child.pid,
        argv: [...e.spec.argv],
        ...(e.startTime === undefined ? {} : { startTime: e.startTime }),
        startedAtMs: e.startedAtMs,
      });
    }
    try {
      writeChildrenFile(this.deps.runDir, live);
    } catch {
      // Losing the record only weakens stale-child cleanup after a crash; supervision goes on.
    }
  }

  private emit(event: SupervisorEvent): void {
    // A listener's bug must not break supervision.
    for (const listener of this.listeners) swallow(() => listener(event));
  }
}

function swallow(fn: () => void): void {
  try {
    fn();
  } catch {
    // see the callers
  }
}
