// Per-interface byte counters from /proc/net/dev, which (unlike /sys) always
// follows the reader's network namespace (REPORT.md §5).
import { readFile } from 'node:fs/promises';

export interface NetDevCounters {
  rxBytes: number;
  txBytes: number;
  rxPackets: number;
  txPackets: number;
}

/** Parses /proc/net/dev text. Malformed lines are skipped, never thrown on. */
export function parseNetDev(text: string): Map<string, NetDevCounters> {
  const out = new Map<string, NetDevCounters>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    if (name === '' || name.includes('|')) continue;
    const fields = line.slice(colon + 1).trim().split(/\s+/);
    if (fields.length < 16 || !fields.every((f) => /^\d+$/.test(f))) continue;
    const n = (i: number): number => Number(fields[i]);
    out.set(name, { rxBytes: n(0), rxPackets: n(1), txBytes: n(8), txPackets: n(9) });
  }
  return out;
}

/** Reads and parses /proc/net/dev (the path is a parameter for tests). */
export async function readNetDev(path = '/proc/net/dev'): Promise<Map<string, NetDevCounters>> {
  return parseNetDev(await readFile(path, 'utf8'));
}
