// Child processes behind a small interface, so the supervisor is tested with
// test/fakes/fake-spawner.ts and only this file touches child_process.
import { spawn as spawnProcess } from 'node:child_process';
import { ResilnetError } from '../../config/errors.js';
import { systemClock } from './clock.js';

/** After exit, how long to wait for output still in the pipes before closing them. */
const PIPE_DRAIN_AFTER_EXIT_MS = 1000;

export interface ChildSpec {
  /** Stable name the supervisor and logs use, e.g. `openvpn:fd5e:1:2:7::/64` or `babeld`. */
  name: string;
  /** argv[0] is the program (looked up in PATH). */
  argv: string[];
  /** Extra environment variables, added to the daemon's own environment. */
  env?: Record<string, string>;
  cwd?: string;
  /**
   * Files the supervisor removes before every launch: what a crashed run leaves behind and the
   * next one cannot start with (babeld does not replace a stale control socket: "Address already in use").
   */
  staleFiles?: readonly string[];
  /**
   * Runs before every launch, after `staleFiles`: undoes what a killed run left outside files
   * (babeld's kernel routes). The spawn waits for a returned promise (the child is "starting"
   * meanwhile); a synchronous one holds up the event loop, keep it short. Must not throw.
   */
  beforeLaunch?: () => Promise<void> | void;
}

export interface ChildExit {
  /** Exit status, or null when the child was ended by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Child {
  readonly pid: number;
  /** stdout and stderr split into lines (no newline), in arrival order. Single consumer. */
  readonly lines: AsyncIterable<string>;
  /** Resolves once the process has exited (never rejects). */
  readonly exited: Promise<ChildExit>;
  /** Sends a signal; returns false when the child already exited. */
  kill(signal: NodeJS.Signals): boolean;
}

export interface Spawner {
  /** Starts a child. Throws ResilnetError RN_CHILD_SPAWN_FAILED when it cannot start at all. */
  spawn(spec: ChildSpec): Child;
}

/** Lines a child produced that nobody has read yet are capped, oldest dropped first. */
export const MAX_BUFFERED_LINES = 2000;

/**
 * An async-iterable line buffer with one consumer. Bounded so that a chatty child
 * whose lines are never read cannot grow the daemon's memory without limit.
 */
export class LineQueue implements AsyncIterable<string> {
  private readonly buffered: string[] = [];
  private waiter: ((r: IteratorResult<string>) => void) | undefined;
  private ended = false;
  droppedLines = 0;

  constructor(private readonly maxLines = MAX_BUFFERED_LINES) {}

  push(line: string): void {
    if (this.ended) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w({ value: line, done: false });
      return;
    }
    this.buffered.push(line);
    if (this.buffered.length > this.maxLines) {
      this.buffered.shift();
      this.droppedLines++;
    }
  }

  end(): void {
    this.ended = true;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w({ value: undefined, done: true });
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<string> {
    return {
      next: () => {
        const line = this.buffered.shift();
        if (line !== undefined) return Promise.resolve({ value: line, done: false });
        if (this.ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => {
          this.waiter = resolve;
        });
      },
      return: () => {
        // The consumer stopped reading: drop what is buffered and keep nothing more.
        this.buffered.length = 0;
        this.ended = true;
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

/** Splits a byte stream into lines; a trailing partial line is flushed at end. */
function feedLines(stream: NodeJS.ReadableStream | null, queue: LineQueue): Promise<void> {
  if (!stream) return Promise.resolve();
  return new Promise((resolve) => {
    let rest = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      rest += chunk;
      let nl: number;
      while ((nl = rest.indexOf('\n')) >= 0) {
        queue.push(rest.slice(0, nl).replace(/\r$/, ''));
        rest = rest.slice(nl + 1);
      }
      // A child that never prints a newline must not grow this string forever.
      if (rest.length > 64 * 1024) {
        queue.push(rest);
        rest = '';
      }
    });
    const done = (): void => {
      if (rest.length > 0) queue.push(rest);
      rest = '';
      resolve();
    };
    stream.on('end', done);
    stream.on('close', done);
    stream.on('error', done);
  });
}

export const realSpawner: Spawner = {
  spawn(spec: ChildSpec): Child {
    const [program, ...args] = spec.argv;
    if (program === undefined) {
      throw new ResilnetError('RN_CHILD_SPAWN_FAILED', `cannot start child: ${spec.name} (empty argv). This is a bug in the caller.`);
    }
    const proc = spawnProcess(program, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: spec.env ? { ...process.env, ...spec.env } : process.env,
      cwd: spec.cwd,
    });
    // 'error' is emitted asynchronously for ENOENT/EACCES; without a listener it would crash us.
    let spawnError: Error | undefined;
    proc.on('error', (err) => {
      spawnError = err;
    });
    const pid = proc.pid;
    if (pid === undefined) {
      throw new ResilnetError(
        'RN_CHILD_SPAWN_FAILED',
        `cannot start child: ${spec.name} (${program} could not be executed). Check that ${program} is installed and in PATH.`,
        { details: { argv: spec.argv } },
      );
    }
    const queue = new LineQueue();
    const streamsDone = Promise.all([feedLines(proc.stdout, queue), feedLines(proc.stderr, queue)]);
    let exitedFlag = false;
    const exited = new Promise<ChildExit>((resolve) => {
      proc.on('exit', (code, signal) => {
        exitedFlag = true;
        resolve({ code, signal });
      });
      proc.on('error', () => {
        if (proc.exitCode === null && proc.signalCode === null && spawnError && !exitedFlag) {
          exitedFlag = true;
          resolve({ code: null, signal: null });
        }
      });
    });
    // End the line stream once both pipes drained, so late lines are not lost; but a
    // grandchild that inherited the pipes must not keep them (and us) open forever.
    void exited.then(() => {
      const cancel = systemClock.setTimeout(() => {
        proc.stdout?.destroy();
        proc.stderr?.destroy();
        queue.end();
      }, PIPE_DRAIN_AFTER_EXIT_MS);
      void streamsDone.then(() => {
        cancel();
        queue.end();
      });
    });
    return {
      pid,
      lines: queue,
      exited,
      kill(signal: NodeJS.Signals): boolean {
        if (exitedFlag) return false;
        try {
          return proc.kill(signal);
        } catch {
          return false;
        }
      },
    };
  },
};
