// What the supervisor needs from /proc to tell its own children from unrelated
// processes that reuse a PID: the start time (field 22 of /proc/PID/stat, clock
// ticks since boot) and the command line.
import { readFileSync } from 'node:fs';

export interface ProcAccess {
  /** Start time in clock ticks since boot, as text; undefined when the process is gone. */
  startTime(pid: number): string | undefined;
  /** argv from /proc/PID/cmdline; undefined when gone or unreadable. */
  cmdline(pid: number): string[] | undefined;
  /** Sends a signal; false when the process does not exist. */
  kill(pid: number, signal: NodeJS.Signals): boolean;
  /** True when the process exists (a zombie counts as gone). */
  alive(pid: number): boolean;
}

/** Parses /proc/PID/stat text; comm may hold spaces and ')' so fields are counted after the last ')'. */
export function parseProcStat(text: string): { state: string; startTime: string } | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const fields = text.slice(close + 2).trim().split(/\s+/);
  // After comm: field 3 (state) is fields[0]; field 22 (starttime) is fields[19].
  const state = fields[0];
  const startTime = fields[19];
  if (state === undefined || startTime === undefined || !/^\d+$/.test(startTime)) return undefined;
  return { state, startTime };
}

/** Splits /proc/PID/cmdline (NUL-separated, NUL-terminated). */
export function parseCmdline(raw: string): string[] {
  const parts = raw.split('\0');
  if (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return parts;
}

function validPid(pid: number): boolean {
  // pid 0 and negatives address process groups in kill(2): never allowed here.
  return Number.isInteger(pid) && pid > 1;
}

export const realProcAccess: ProcAccess = {
  startTime(pid) {
    if (!validPid(pid)) return undefined;
    try {
      return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.startTime;
    } catch {
      return undefined;
    }
  },
  cmdline(pid) {
    if (!validPid(pid)) return undefined;
    try {
      return parseCmdline(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
    } catch {
      return undefined;
    }
  },
  kill(pid, signal) {
    if (!validPid(pid)) return false;
    try {
      process.kill(pid, signal);
      return true;
    } catch {
      return false;
    }
  },
  alive(pid) {
    if (!validPid(pid)) return false;
    try {
      const stat = parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
      return stat !== undefined && stat.state !== 'Z' && stat.state !== 'X';
    } catch {
      return false;
    }
  },
};
