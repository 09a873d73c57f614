// Which LAN announcements are fresh and new (pure; time is an argument). An
// announcement is accepted once: its timestamp must lie within the skew window
// of our clock, and its (sender, nonce) must not have been seen. What is kept
// per sender is bounded: past the cap the oldest entry goes and the sender's
// floor rises to it, so an evicted announcement cannot come back either.
export type ReplayVerdict = 'fresh' | 'stale' | 'replayed';

export interface ReplayWindowOptions {
  /** How far a timestamp may lie from our clock, either way. */
  maxSkewMs: number;
  /** Announcements remembered per sender. */
  perSender?: number;
}

interface SenderMemory {
  /** Timestamps at or below this are refused: an entry at this time was forgotten. */
  floorMs: number;
  /** nonce (hex) → timestamp, in insertion order. */
  seen: Map<string, number>;
}

export class ReplayWindow {
  private readonly senders = new Map<string, SenderMemory>();
  private readonly maxSkewMs: number;
  private readonly perSender: number;

  constructor(options: ReplayWindowOptions) {
    this.maxSkewMs = options.maxSkewMs;
    this.perSender = options.perSender ?? 64;
  }

  /** Whether a timestamp lies within the skew window (the cheap check, before any signature work). */
  inWindow(timestampMs: number, nowMs: number): boolean {
    return Math.abs(timestampMs - nowMs) <= this.maxSkewMs;
  }

  /** The verdict without remembering anything (so an unverified datagram leaves no trace). */
  check(sender: string, timestampMs: number, nonce: Buffer, nowMs: number): ReplayVerdict {
    if (!this.inWindow(timestampMs, nowMs)) return 'stale';
    const m = this.senders.get(sender);
    if (!m) return 'fresh';
    if (timestampMs <= m.floorMs || m.seen.has(nonce.toString('hex'))) return 'replayed';
    return 'fresh';
  }

  /** Remembers a verified announcement; entries that left the window are forgotten on the way. */
  remember(sender: string, timestampMs: number, nonce: Buffer, nowMs: number): void {
    let m = this.senders.get(sender);
    if (!m) this.senders.set(sender, (m = { floorMs: -Infinity, seen: new Map() }));
    m.seen.set(nonce.toString('hex'), timestampMs);
    for (const [key, ts] of m.seen) {
      if (m.seen.size <= this.perSender) break;
      this.forget(m, key, ts);
    }
    this.expire(nowMs);
  }

  /** Entries older than the window go (their timestamps are stale now anyway), then senders with nothing left. */
  private expire(nowMs: number): void {
    const oldestFreshMs = nowMs - this.maxSkewMs;
    for (const [sender, m] of this.senders) {
      for (const [key, ts] of m.seen) if (ts < oldestFreshMs) this.forget(m, key, ts);
      if (m.seen.size === 0 && m.floorMs < oldestFreshMs) this.senders.delete(sender);
    }
  }

  private forget(m: SenderMemory, key: string, ts: number): void {
    m.seen.delete(key);
    m.floorMs = Math.max(m.floorMs, ts);
  }

  senderCount(): number {
    return this.senders.size;
  }
}
