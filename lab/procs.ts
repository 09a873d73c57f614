// The lab's long-running processes: started detached inside a namespace, known
// afterwards by pid *and* kernel start time, so a stop never hits a recycled pid
// and `lab down` works from another process after a crash.
import { spawn } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import type { CommandRunner } from './exec.js';
import { resolveArgv } from './preflight.js';

export interface ProcessRecord {
  /** What it is: daemon, registry, miniupnpd, stund. */
  role: string;
  /** Lab host it belongs to (n1, reg, gw1, inet). */
  host: string;
  netns: string;
  pid: number;
  /** Field 22 of /proc/PID/stat (start time in clock ticks since boot). */
  startTime: string;
  argv: string[];
  log: string;
}

/** Start time and state of a pid, or undefined when there is no such process. */
export function readProcStat(pid: number): { startTime: string; state: string } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm may contain spaces and parentheses: fields start after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = rest[0];
  const startTime = rest[19];
  if (state === undefined || startTime === undefined) return undefined;
  return { startTime, state };
}

export function isRunning(rec: Pick<ProcessRecord, 'pid' | 'startTime'>): boolean {
  const st = readProcStat(rec.pid);
  return st !== undefined && st.startTime === rec.startTime && st.state !== 'Z' && st.state !== 'X';
}

export function spawnInNetns(options: {
  role: string;
  host: string;
  netns: string;
  argv: string[];
  log: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}): ProcessRecord {
  const fd = openSync(options.log, 'a', 0o600);
  try {
    // `ip netns exec` execs the command, so the pid we get is the command's own.
    const [ip, ...args] = resolveArgv(['ip', 'netns', 'exec', options.netns, ...options.argv]);
    const child = spawn(ip ?? 'ip', args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      cwd: options.cwd,
      env: options.env ?? process.env,
    });
    child.on('error', () => undefined);
    child.unref();
    const pid = child.pid;
    if (pid === undefined) throw new Error(`spawn failed for ${options.argv[0]}`);
    const st = readProcStat(pid);
    return {
      role: options.role,
      host: options.host,
      netns: options.netns,
      pid,
      startTime: st?.startTime ?? '0',
      argv: options.argv,
      log: options.log,
    };
  } finally {
    closeSync(fd);
  }
}

/** The last lines of a log file joined with " / " ('' when unreadable). */
export function lastLines(path: string, n = 3): string {
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    // no log yet
  }
  return text.trim().split('\n').slice(-n).join(' / ');
}

async function waitGone(rec: Pick<ProcessRecord, 'pid' | 'startTime'>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isRunning(rec)) {
    if (Date.now() >= deadline) return false;
    await delay(50);
  }
  return true;
}

/** SIGTERM, then SIGKILL after graceMs. Returns false if the process was not running. */
export async function stopProcess(rec: Pick<ProcessRecord, 'pid' | 'startTime'>, graceMs = 10_000): Promise<boolean> {
  if (!isRunning(rec)) return false;
  signalProcess(rec, 'SIGTERM');
  if (await waitGone(rec, graceMs)) return true;
  signalProcess(rec, 'SIGKILL');
  await waitGone(rec, 5_000);
  return true;
}

export function signalProcess(rec: Pick<ProcessRecord, 'pid' | 'startTime'>, signal: NodeJS.Signals): boolean {
  if (!isRunning(rec)) return false;
  try {
    process.kill(rec.pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Pids of every process living in a namespace (`ip netns pids`). */
export async function netnsPids(runner: CommandRunner, netns: string): Promise<number[]> {
  const r = await runner.run(['ip', 'netns', 'pids', netns]);
  if (r.code !== 0) return [];
  return r.stdout.split(/\s+/).filter(Boolean).map(Number).filter((n) => Number.isInteger(n) && n > 0);
}

/** Stops everything still running inside the given namespaces (ours by construction). */
export async function stopNamespaceProcesses(runner: CommandRunner, namespaces: string[], graceMs = 3_000): Promise<number> {
  const recs: Array<{ pid: number; startTime: string }> = [];
  for (const netns of namespaces) {
    for (const pid of await netnsPids(runner, netns)) {
      const st = readProcStat(pid);
      if (st) recs.push({ pid, startTime: st.startTime });
    }
  }
  await Promise.all(recs.map((r) => stopProcess(r, graceMs)));
  return recs.length;
}
