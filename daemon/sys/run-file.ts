// The daemon's one runner of one-shot commands (ip, sysctl, nft): no shell,
// output collected, a timeout, a cancel signal, optional stdin, and a retry
// helper for runs that timed out (a slow host is not a failed command).
// node:child_process only, which keeps the daemon's start-up light; long-running
// children go through spawner.ts instead. Never throws.
import { spawn } from 'node:child_process';
import { backoffDelayMs, type Backoff } from './backoff.js';
import { systemClock, type Clock } from './clock.js';

export interface RunFileResult {
  /** -1 when it could not be started, timed out or was killed. */
  exitCode: number;
  stdout: string;
  stderr: string;
  /** Killed because it ran past its timeout. */
  timedOut: boolean;
}

export interface RunFileOptions {
  input?: string;
  /** Default 10 s; then SIGTERM, and SIGKILL after a grace of 2 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** More output than this (per stream) is cut: a runaway command cannot grow the daemon. */
const MAX_OUTPUT_CHARS = 16 * 1024 * 1024;
const KILL_GRACE_MS = 2_000;

export function runFile(file: string, args: readonly string[], options: RunFileOptions = {}): Promise<RunFileResult> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let settled = false;
    const timers: Array<ReturnType<typeof setTimeout>> = [];
    const done = (r: Omit<RunFileResult, 'timedOut'>): void => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      options.signal?.removeEventListener('abort', onAbort);
      resolve({ ...r, timedOut, ...(timedOut ? { exitCode: -1, stderr: `${r.stderr}${r.stderr ? '\n' : ''}timed out after ${timeoutMs} ms` } : {}) });
    };
    if (options.signal?.aborted) return done({ exitCode: -1, stdout: '', stderr: 'cancelled before start' });
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(file, [...args], { stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    } catch (err) {
      return done({ exitCode: -1, stdout: '', stderr: err instanceof Error ? err.message : String(err) });
    }
    const kill = (): void => {
      child.kill('SIGTERM');
      timers.push(setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS));
    };
    function onAbort(): void {
      kill();
    }
    options.signal?.addEventListener('abort', onAbort, { once: true });
    timers.push(
      setTimeout(() => {
        timedOut = true;
        kill();
      }, timeoutMs),
    );
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout = (stdout + d).slice(0, MAX_OUTPUT_CHARS)));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(0, MAX_OUTPUT_CHARS)));
    child.on('error', (err) => done({ exitCode: -1, stdout, stderr: stderr || err.message }));
    child.on('close', (code, signal) => done({ exitCode: code ?? -1, stdout, stderr: signal && !stderr ? `killed by ${signal}` : stderr }));
    if (options.input !== undefined && child.stdin) {
      child.stdin.on('error', () => undefined);
      child.stdin.end(options.input);
    }
  });
}

export interface RetryOptions<R extends { timedOut?: boolean } = RunFileResult> {
  /** Tries in all (1 = no retry). */
  attempts: number;
  /** Pause between tries. */
  backoff?: Backoff;
  /** Each retry gets a longer timeout: doubled, up to this. */
  maxTimeoutMs?: number;
  clock?: Clock;
  signal?: AbortSignal;
  /** Told of each timed-out try that will be retried (for a log line or a health warning). */
  onRetry?: (result: R, attempt: number, delayMs: number) => void;
}

const DEFAULT_RETRY_BACKOFF: Backoff = { firstMs: 1_000, maxMs: 15_000 };

/**
 * Runs a command through `run` (one try, given its timeout) and runs it again while it times out,
 * with backoff and longer timeouts; a command that failed for another reason is returned at once.
 * Returns the last result.
 */
export async function retryTimeouts<R extends { timedOut?: boolean }>(run: (timeoutMs: number) => Promise<R>, firstTimeoutMs: number, options: RetryOptions<R>): Promise<R> {
  const clock = options.clock ?? systemClock;
  let timeoutMs = firstTimeoutMs;
  for (let attempt = 1; ; attempt++) {
    const r = await run(timeoutMs);
    if (!r.timedOut || attempt >= options.attempts || options.signal?.aborted) return r;
    const delayMs = backoffDelayMs(attempt, options.backoff ?? DEFAULT_RETRY_BACKOFF);
    options.onRetry?.(r, attempt, delayMs);
    try {
      await clock.sleep(delayMs, options.signal ? { signal: options.signal } : {});
    } catch {
      return r;
    }
    timeoutMs = Math.min(options.maxTimeoutMs ?? firstTimeoutMs * 4, timeoutMs * 2);
  }
}
