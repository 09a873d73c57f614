// A scripted spawner: records every spec, hands out FakeChild objects the test
// drives (emit lines, exit, react to signals), optionally on a fake clock.
import type { Child, ChildExit, ChildSpec, Spawner } from '../../daemon/sys/spawner.js';
import { LineQueue } from '../../daemon/sys/spawner.js';
import { ResilnetError } from '../../config/errors.js';
import type { Clock } from '../../daemon/sys/clock.js';

export interface FakeChildScript {
  /** Lines the child prints right after start. */
  lines?: string[];
  /** Exit on its own after this many ms on the clock given to the spawner. */
  exitAfterMs?: number;
  exit?: ChildExit;
  /** How the child reacts to a signal: 'exit' (default) ends it; 'ignore' keeps it running (SIGKILL always ends it). */
  onSignal?: 'exit' | 'ignore';
  /** spawn() throws RN_CHILD_SPAWN_FAILED instead of starting. */
  failToSpawn?: boolean;
}

export class FakeChild implements Child {
  readonly pid: number;
  readonly lines: LineQueue = new LineQueue();
  readonly exited: Promise<ChildExit>;
  readonly signals: NodeJS.Signals[] = [];
  done = false;
  private resolveExit!: (e: ChildExit) => void;

  constructor(readonly spec: ChildSpec, pid: number, private readonly script: FakeChildScript) {
    this.pid = pid;
    this.exited = new Promise((resolve) => {
      this.resolveExit = resolve;
    });
    for (const line of script.lines ?? []) this.lines.push(line);
  }

  emit(line: string): void {
    this.lines.push(line);
  }

  exit(exit: ChildExit = { code: 0, signal: null }): void {
    if (this.done) return;
    this.done = true;
    this.lines.end();
    this.resolveExit(exit);
  }

  kill(signal: NodeJS.Signals): boolean {
    if (this.done) return false;
    this.signals.push(signal);
    if (signal === 'SIGKILL' || (this.script.onSignal ?? 'exit') === 'exit') {
      this.exit({ code: null, signal });
    }
    return true;
  }
}

export class FakeSpawner implements Spawner {
  readonly specs: ChildSpec[] = [];
  readonly children: FakeChild[] = [];
  private nextPid = 4000;
  /** Scripts used in order for the next spawns; when empty, `defaultScript` applies. */
  readonly scripts: FakeChildScript[] = [];
  defaultScript: FakeChildScript = {};

  constructor(private readonly clock?: Clock) {}

  spawn(spec: ChildSpec): Child {
    this.specs.push(spec);
    const script = this.scripts.shift() ?? this.defaultScript;
    if (script.failToSpawn) {
      throw new ResilnetError('RN_CHILD_SPAWN_FAILED', `cannot start child: ${spec.name} (fake spawn failure).`);
    }
    const child = new FakeChild(spec, this.nextPid++, script);
    this.children.push(child);
    if (script.exitAfterMs !== undefined) {
      if (!this.clock) throw new Error('FakeSpawner: exitAfterMs needs a clock');
      this.clock.setTimeout(() => child.exit(script.exit ?? { code: 1, signal: null }), script.exitAfterMs);
    }
    return child;
  }

  /** Children spawned under a name, oldest first. */
  byName(name: string): FakeChild[] {
    return this.children.filter((c) => c.spec.name === name);
  }

  last(name: string): FakeChild {
    const all = this.byName(name);
    const child = all[all.length - 1];
    if (!child) throw new Error(`FakeSpawner: no child named ${name}`);
    return child;
  }
}
