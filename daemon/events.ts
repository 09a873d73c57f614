// The daemon's event log: one human-readable line for every membership and
// link change ("link with fd5e:1:2:7::/64 established via 10.1.0.7:1195/udp").
// Bounded in memory for `resilnet events`; each line is also logged once and
// handed to the sink, which keeps it on disk (events-store.ts).
import type { Clock } from './sys/clock.js';

export type EventKind =
  | 'daemon'
  | 'link-established'
  | 'link-lost'
  | 'link-restored'
  | 'link-closed'
  | 'peer-dead'
  | 'peer-alive'
  | 'peer-learned'
  | 'child'
  | 'network-config'
  | 'revocation'
  | 'registry'
  | 'reload'
  | 'tunnel-selection';

export interface EventLine {
  atMs: number;
  kind: EventKind;
  /** The line a human reads; complete on its own. */
  text: string;
  /** The peer (prefix) the line is about, when there is one. */
  peer?: string;
}

export interface EventLogDeps {
  clock: Pick<Clock, 'nowMs'>;
  /** Receives every line once, e.g. a pino child logger's info. */
  log?: (line: EventLine) => void;
  /** Receives every line once to keep it (the daemon: the events DB); must not block. */
  sink?: EventSink;
}

/** Where lines go to be kept beyond the in-memory ring. */
export interface EventSink {
  push(line: EventLine): void;
}

export const DEFAULT_EVENT_CAPACITY = 1000;

export class EventLog {
  private readonly lines: EventLine[] = [];
  private droppedCount = 0;

  constructor(
    private readonly deps: EventLogDeps,
    private readonly capacity = DEFAULT_EVENT_CAPACITY,
  ) {}

  add(kind: EventKind, text: string, peer?: string): EventLine {
    const line: EventLine = { atMs: this.deps.clock.nowMs(), kind, text, ...(peer === undefined ? {} : { peer }) };
    this.lines.push(line);
    if (this.lines.length > this.capacity) {
      this.lines.shift();
      this.droppedCount++;
    }
    this.deps.log?.(line);
    try {
      this.deps.sink?.push(line);
    } catch {
      // Keeping a line must never break the caller that reports a change; the sink logs its own trouble.
    }
    return line;
  }

  /** The newest `limit` lines, oldest first. */
  list(limit = this.capacity): EventLine[] {
    return this.lines.slice(Math.max(0, this.lines.length - limit));
  }

  get dropped(): number {
    return this.droppedCount;
  }
}

// The wording of the lines lives here so every caller says the same thing.
export const eventText = {
  linkEstablished: (peer: string, remote: string, proto = 'udp') => `link with ${peer} established via ${remote}/${proto}`,
  /** A link opened by hole punching: our public endpoint → the peer's. */
  linkPunched: (peer: string, ours: string, theirs: string) => `link with ${peer} established via hole punching (${ours} → ${theirs})`,
  /** `flaps`: how often link liveness saw this tunnel lost and restored so far. */
  linkLost: (peer: string, reason: string, flaps?: number) => `link with ${peer} lost (${reason}${flaps === undefined ? '' : `; flaps: ${flaps}`})`,
  linkClosed: (peer: string, reason: string) => `link with ${peer} closed (${reason})`,
  linkRestored: (peer: string, after?: { lostForMs: number; flaps: number }) =>
    `link with ${peer} restored${after ? ` after ${(after.lostForMs / 1000).toFixed(1)} s (flaps: ${after.flaps})` : ''}`,
  peerDead: (peer: string, failures: number, reason: string) =>
    `peer ${peer} marked dead: ${failures} failed attempt${failures === 1 ? '' : 's'} (${reason})`,
  peerRevoked: (peer: string, serial: string) => `peer ${peer} marked dead: certificate ${serial} revoked`,
  peerAlive: (peer: string) => `peer ${peer} reachable again`,
  peerLearned: (peer: string, source: string) => `peer ${peer} learned from ${source}`,
  tunnelForTraffic: (peer: string, bytesPerSec: number, via: string | null) =>
    `tunnel to ${peer} opened: carries ${formatRate(bytesPerSec)} of our traffic to it (${via === null ? 'had no tunnel route' : `was via ${via}`})`,
  tunnelKeptBusiest: (peer: string, bytesPerSec: number, score: number) =>
    `tunnel with ${peer} kept: busiest (${formatRate(bytesPerSec)}; a refresh passed it over at score ${score.toFixed(2)})`,
};

/** 850 B/s, 62 kB/s, 1.2 MB/s (decimal units, as in link speeds). */
export function formatRate(bytesPerSec: number): string {
  const v = Math.max(0, bytesPerSec);
  if (v >= 1e9) return `${(v / 1e9).toFixed(1)} GB/s`;
  if (v >= 1e6) return `${(v / 1e6).toFixed(1)} MB/s`;
  if (v >= 1e3) return `${v >= 1e5 ? Math.round(v / 1e3) : (v / 1e3).toFixed(1)} kB/s`;
  return `${Math.round(v)} B/s`;
}
