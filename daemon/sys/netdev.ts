// Per-interface byte counters from /proc/net/dev, which (unlike /sys) always
// follows the reader's network namespace (REPORT.md §5).
import { readFileSync } from 'node:fs';
import { ProcFile } from './proc-file.js';

export interface NetDevCounters {
  rxBytes: number;
  txBytes: number;
  rxPackets: number;
  txPackets: number;
}

/**
 * Parses /proc/net/dev text. Malformed lines are skipped, never thrown on. Link
 * liveness parses it several times a second: one pass over the characters, no
 * regular expression or array per field.
 */
export function parseNetDev(text: string): Map<string, NetDevCounters> {
  const out = new Map<string, NetDevCounters>();
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    parseLine(text, start, end, out);
    start = end + 1;
  }
  return out;
}

/** Counters per line after "name:": 8 receive, 8 transmit. */
const FIELDS = 16;
const scratch = new Array<number>(FIELDS);

function parseLine(text: string, start: number, end: number, out: Map<string, NetDevCounters>): void {
  const colon = text.indexOf(':', start);
  if (colon < 0 || colon >= end) return;
  const name = text.slice(start, colon).trim();
  if (name === '' || name.includes('|')) return;
  let n = 0;
  let i = colon + 1;
  while (i < end) {
    let c = text.charCodeAt(i);
    if (c === 32 || c === 9) {
      i++;
      continue;
    }
    let value = 0;
    const first = i;
    while (c >= 48 && c <= 57) {
      value = value * 10 + (c - 48);
      c = ++i < end ? text.charCodeAt(i) : 32;
    }
    if (i === first || (c !== 32 && c !== 9)) return; // not a number
    if (n < FIELDS) scratch[n] = value;
    n++;
  }
  if (n < FIELDS) return;
  out.set(name, { rxBytes: scratch[0]!, rxPackets: scratch[1]!, txBytes: scratch[8]!, txPackets: scratch[9]! });
}

/** One descriptor for the process: a daemon never leaves the namespace it started in. */
let procNetDev: ProcFile | undefined;

/**
 * Reads and parses /proc/net/dev (another path: tests), synchronously: link liveness reads
 * it several times a second, and the thread-pool round trips of an async read would cost
 * more than the read (procfs answers from memory, without the RTNL lock that interface
 * dumps wait for). /proc/net/dev is read through one open descriptor (proc-file.ts).
 */
export function readNetDevSync(path?: string): Map<string, NetDevCounters> {
  if (path !== undefined) return parseNetDev(readFileSync(path, 'utf8'));
  procNetDev ??= new ProcFile('/proc/net/dev');
  return parseNetDev(procNetDev.read());
}
