// CPU time and memory of a process from /proc, for the footprint benchmark:
// pure parsers of /proc/PID/stat and /proc/PID/smaps_rollup text, and the
// summaries (CPU share over a window, median and max) the benchmark prints.

/** CPU time a process has used so far, in clock ticks (fields 14 and 15 of /proc/PID/stat). */
export interface CpuTicks {
  utime: number;
  stime: number;
}

/** Parses /proc/PID/stat; undefined when the text is not a stat line. */
export function parseStatCpu(text: string): CpuTicks | undefined {
  // comm (field 2) may hold spaces and parentheses: fields resume after the last ')'.
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const rest = text.slice(close + 2).trim().split(/\s+/);
  // rest[0] is field 3 (state): utime is field 14, stime field 15.
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isInteger(utime) || !Number.isInteger(stime) || utime < 0 || stime < 0) return undefined;
  return { utime, stime };
}

/** Memory of a process in KiB, from /proc/PID/smaps_rollup. */
export interface MemoryKiB {
  /** Resident pages, shared ones (the node binary, libraries) counted in full. */
  rss: number;
  /** Proportional share: shared pages divided by the number of processes mapping them. */
  pss: number;
  /** Pages only this process maps (Private_Clean + Private_Dirty): what stopping it frees. */
  private: number;
  /** Anonymous memory (heap, stacks): what the process itself allocated. */
  anon: number;
}

/** Parses /proc/PID/smaps_rollup; undefined when Rss or Pss is missing. */
export function parseSmapsRollup(text: string): MemoryKiB | undefined {
  const fields = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(\w+):\s+(\d+) kB$/.exec(line.trim());
    if (m) fields.set(m[1] as string, Number(m[2]));
  }
  const rss = fields.get('Rss');
  const pss = fields.get('Pss');
  if (rss === undefined || pss === undefined) return undefined;
  return {
    rss,
    pss,
    private: (fields.get('Private_Clean') ?? 0) + (fields.get('Private_Dirty') ?? 0),
    anon: fields.get('Anonymous') ?? 0,
  };
}

/** Share of one core (in %) used between two readings `elapsedMs` apart. */
export function cpuPercent(before: CpuTicks, after: CpuTicks, elapsedMs: number, ticksPerSec = 100): number {
  if (elapsedMs <= 0) return 0;
  const ticks = after.utime + after.stime - (before.utime + before.stime);
  return (Math.max(0, ticks) / ticksPerSec / (elapsedMs / 1000)) * 100;
}

export interface Spread {
  n: number;
  median: number;
  max: number;
}

/** Median and max of the values (undefined for none). */
export function spread(values: readonly number[]): Spread | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
  return { n: s.length, median, max: s[s.length - 1] as number };
}

/**
 * Context switches of one thread, from /proc/PID/task/TID/status. A voluntary one is the
 * thread going to sleep (in epoll, poll, a futex) until something wakes it: one wake-up each.
 * An involuntary one is the thread preempted while it could run. Undefined when either is missing.
 */
export function parseContextSwitches(text: string): { voluntary: number; involuntary: number } | undefined {
  const voluntary = /^voluntary_ctxt_switches:\s+(\d+)$/m.exec(text);
  const involuntary = /^nonvoluntary_ctxt_switches:\s+(\d+)$/m.exec(text);
  if (!voluntary || !involuntary) return undefined;
  return { voluntary: Number(voluntary[1]), involuntary: Number(involuntary[1]) };
}

/** Bytes a process caused to be written to storage so far (`write_bytes` of /proc/PID/io); undefined when missing. */
export function parseIoWriteBytes(text: string): number | undefined {
  const m = /^write_bytes:\s+(\d+)$/m.exec(text);
  return m ? Number(m[1]) : undefined;
}
