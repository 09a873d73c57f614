// Replay protection: a frame is fresh when its timestamp is inside ±windowMs of
// our clock and its (timestamp, seq) pair has not been seen from that sender.
// Senders make the pair unique (seq counts up per process, the timestamp moves
// on across restarts), so a nonce cache that forgets pairs once they fall out of
// the window is enough; unlike a strictly increasing counter it tolerates UDP
// reordering and sender restarts. Only authenticated frames reach it, so a
// forger cannot fill it. Time comes in as a parameter.

export type ReplayVerdict = 'fresh' | 'stale' | 'replayed' | 'flood';

export interface ReplayGuardOptions {
  windowMs: number;
  /** Pairs remembered per sender; beyond this (a peer sending > N per window) frames are refused. */
  maxPerSender: number;
  /** Senders remembered; the one seen longest ago is forgotten first. */
  maxSenders: number;
}

export class ReplayGuard {
  private readonly pairsBySender = new Map<string, Map<string, number>>();

  constructor(private readonly options: ReplayGuardOptions) {}

  /** Cheap pre-check before any crypto: is the timestamp inside the window? */
  inWindow(timestampMs: number, nowMs: number): boolean {
    return Math.abs(nowMs - timestampMs) <= this.options.windowMs;
  }

  /** Cheap pre-check before any crypto: was this exact pair accepted already? (Records nothing.) */
  seen(sender: string, timestampMs: number, seq: number): boolean {
    return this.pairsBySender.get(sender)?.has(`${timestampMs}:${seq}`) ?? false;
  }

  /** Records the pair if fresh. Call only for frames whose signature verified. */
  check(sender: string, timestampMs: number, seq: number, nowMs: number): ReplayVerdict {
    if (!this.inWindow(timestampMs, nowMs)) return 'stale';
    let pairs = this.pairsBySender.get(sender);
    if (pairs === undefined) {
      pairs = new Map();
      if (this.pairsBySender.size >= this.options.maxSenders) {
        const oldest = this.pairsBySender.keys().next().value;
        if (oldest !== undefined) this.pairsBySender.delete(oldest);
      }
    } else {
      this.pairsBySender.delete(sender); // re-insert below: Map order = least recently seen first
    }
    this.pairsBySender.set(sender, pairs);
    const key = `${timestampMs}:${seq}`;
    if (pairs.has(key)) return 'replayed';
    if (pairs.size >= this.options.maxPerSender) {
      const horizon = nowMs - this.options.windowMs;
      for (const [k, ts] of pairs) if (ts < horizon) pairs.delete(k);
      if (pairs.size >= this.options.maxPerSender) return 'flood';
    }
    pairs.set(key, timestampMs);
    return 'fresh';
  }

  forget(sender: string): void {
    this.pairsBySender.delete(sender);
  }
}
