// Where a daemon's start-up time goes, read from its log (pino JSON lines):
// first log line, first tunnel plan that opens something (its tunnel requests go
// out then), first openvpn end started, each link up. Pure parsing; the
// convergence benchmark adds when the lab first saw all pairs reach.
import { readFileSync } from 'node:fs';

export interface StartTimeline {
  /** Milliseconds after the daemon was started; null when the log never shows it. */
  firstLogMs: number | null;
  /** The first plan round that opened tunnels (its tunnel requests go out at once). */
  firstRequestMs: number | null;
  /** The first openvpn end started (ours after an accept, or the server end for a peer). */
  firstTunnelMs: number | null;
  /** Each "link with P established" event, in order. */
  linksUpMs: number[];
}

interface LogLine {
  time?: unknown;
  msg?: unknown;
  component?: unknown;
  kind?: unknown;
  reasons?: unknown;
}

function timeOf(line: LogLine): number | undefined {
  if (typeof line.time === 'number') return line.time;
  if (typeof line.time === 'string') {
    const ms = Date.parse(line.time);
    return Number.isNaN(ms) ? undefined : ms;
  }
  return undefined;
}

/** The timeline of one daemon log, relative to `startedAtMs`; lines that are not JSON are skipped. */
export function parseStartTimeline(logText: string, startedAtMs: number): StartTimeline {
  const out: StartTimeline = { firstLogMs: null, firstRequestMs: null, firstTunnelMs: null, linksUpMs: [] };
  for (const text of logText.split('\n')) {
    if (!text.startsWith('{')) continue;
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      continue;
    }
    const at = timeOf(line);
    if (at === undefined) continue;
    const ms = at - startedAtMs;
    out.firstLogMs ??= ms;
    if (line.msg === 'tunnel plan' && Array.isArray(line.reasons) && line.reasons.some((r) => typeof r === 'string' && r.startsWith('open '))) out.firstRequestMs ??= ms;
    else if (line.msg === 'tunnel opening') out.firstTunnelMs ??= ms;
    else if (line.kind === 'link-established') out.linksUpMs.push(ms);
  }
  return out;
}

export function readStartTimeline(logPath: string, startedAtMs: number): StartTimeline {
  let text = '';
  try {
    text = readFileSync(logPath, 'utf8');
  } catch {
    // no log: every phase stays null
  }
  return parseStartTimeline(text, startedAtMs);
}

/** The phases over all nodes: the median node's first log line and first request, the first and last link up. */
export interface StartPhases {
  firstLogMs: number | null;
  firstRequestMs: number | null;
  firstLinkUpMs: number | null;
  /** The last node's first link up: every node has at least one link from here on. */
  everyNodeLinkedMs: number | null;
  lastLinkUpMs: number | null;
}

export function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Links that came up after `untilMs` (later replacements) are left out. */
export function startPhases(timelines: readonly StartTimeline[], untilMs = Infinity): StartPhases {
  const present = (xs: Array<number | null>): number[] => xs.filter((x): x is number => x !== null);
  const links = timelines.flatMap((t) => t.linksUpMs.filter((ms) => ms <= untilMs));
  const firstLinks = timelines.map((t) => t.linksUpMs.find((ms) => ms <= untilMs) ?? null);
  return {
    firstLogMs: median(present(timelines.map((t) => t.firstLogMs))),
    firstRequestMs: median(present(timelines.map((t) => t.firstRequestMs))),
    firstLinkUpMs: links.length ? Math.min(...links) : null,
    everyNodeLinkedMs: firstLinks.some((x) => x === null) ? null : Math.max(...present(firstLinks)),
    lastLinkUpMs: links.length ? Math.max(...links) : null,
  };
}
