// RUN_DIR/children.json: the live children of this daemon run, so that a daemon
// killed with -9 can find and stop them at its next start. A PID alone is not
// enough (PIDs are reused), so each record also keeps the process start time and argv.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as z from 'zod';
import { systemClock, type Clock } from '../sys/clock.js';
import { realProcAccess, type ProcAccess } from './proc.js';

export const CHILDREN_FILE = 'children.json';

export interface ChildRecord {
  name: string;
  pid: number;
  argv: string[];
  /** /proc/PID/stat start time (clock ticks since boot); undefined if it could not be read. */
  startTime?: string;
  startedAtMs: number;
}

const recordSchema = z.object({
  name: z.string(),
  pid: z.number().int(),
  argv: z.array(z.string()),
  startTime: z.string().optional(),
  startedAtMs: z.number(),
});
const fileSchema = z.object({ version: z.literal(1), children: z.array(recordSchema) });

/** Parses the file's text; garbage yields an empty list rather than an exception. */
export function parseChildrenFile(text: string): ChildRecord[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return [];
  }
  const parsed = fileSchema.safeParse(json);
  return parsed.success ? parsed.data.children : [];
}

export function renderChildrenFile(children: ChildRecord[]): string {
  return JSON.stringify({ version: 1, children }, null, 2) + '\n';
}

/** Writes atomically (temp file + rename) so a crash never leaves half a file. */
export function writeChildrenFile(runDir: string, children: ChildRecord[]): void {
  mkdirSync(runDir, { recursive: true });
  const path = join(runDir, CHILDREN_FILE);
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, renderChildrenFile(children), { mode: 0o600 });
  renameSync(tmp, path);
}

export function readChildrenFile(runDir: string): ChildRecord[] {
  try {
    return parseChildrenFile(readFileSync(join(runDir, CHILDREN_FILE), 'utf8'));
  } catch {
    return [];
  }
}

/**
 * True when a live process's cmdline is the recorded argv. A child started as
 * `ip netns exec NS prog …` shows up as `prog …` once ip has exec'd, so that
 * prefix may be missing from the cmdline.
 */
export function cmdlineMatches(recordedArgv: string[], cmdline: string[]): boolean {
  const same = (a: string[], b: string[]): boolean => a.length === b.length && a.every((v, i) => v === b[i]);
  if (cmdline.length === 0) return false;
  if (same(recordedArgv, cmdline)) return true;
  if (recordedArgv[1] === 'netns' && recordedArgv[2] === 'exec' && /(^|\/)ip$/.test(recordedArgv[0] ?? '')) {
    return same(recordedArgv.slice(4), cmdline);
  }
  return false;
}

/** Decides whether a record still names the same, live process (pure over ProcAccess reads). */
export function isStillOurs(record: ChildRecord, proc: ProcAccess): boolean {
  if (!proc.alive(record.pid)) return false;
  if (record.startTime !== undefined && proc.startTime(record.pid) !== record.startTime) return false;
  const cmd = proc.cmdline(record.pid);
  return cmd !== undefined && cmdlineMatches(record.argv, cmd);
}

export interface StaleCleanupResult {
  /** Records whose process was still ours and was stopped. */
  stopped: ChildRecord[];
  /** Of those, the ones that needed SIGKILL. */
  killed: ChildRecord[];
  /** Records whose PID is gone or now belongs to another program (left alone). */
  skipped: ChildRecord[];
}

export interface CleanStaleOptions {
  proc?: ProcAccess;
  clock?: Clock;
  graceMs?: number;
  pollMs?: number;
}

/**
 * Run at daemon start, before spawning anything: stops the children an earlier run
 * left behind (SIGTERM, SIGKILL after the grace period), but only processes whose
 * start time and cmdline still match their record, and then empties the file.
 */
export async function cleanStaleChildren(runDir: string, options: CleanStaleOptions = {}): Promise<StaleCleanupResult> {
  const proc = options.proc ?? realProcAccess;
  const graceMs = options.graceMs ?? 5000;
  const pollMs = options.pollMs ?? 100;
  const clock = options.clock ?? systemClock;
  const records = readChildrenFile(runDir);
  const result: StaleCleanupResult = { stopped: [], killed: [], skipped: [] };
  const ours = records.filter((r) => {
    const mine = isStillOurs(r, proc);
    if (!mine) result.skipped.push(r);
    return mine;
  });
  for (const r of ours) proc.kill(r.pid, 'SIGTERM');
  const deadline = clock.nowMs() + graceMs;
  let waiting = ours;
  while (waiting.length > 0 && clock.nowMs() < deadline) {
    await clock.sleep(pollMs);
    waiting = waiting.filter((r) => isStillOurs(r, proc));
  }
  for (const r of waiting) {
    proc.kill(r.pid, 'SIGKILL');
    result.killed.push(r);
  }
  result.stopped.push(...ours);
  if (records.length > 0) writeChildrenFile(runDir, []);
  return result;
}
