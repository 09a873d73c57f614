// Frames made before this process started are refused: the nonce cache lives in
// memory, so after a restart a frame captured earlier (a `drain down`, a tunnel
// request) would otherwise be fresh again. Timestamps are the sender's clock,
// so the floor is our start time shifted by the sender's clock offset:
// - before any round trip with a sender: our start minus `skewMs` (hosts kept
//   within that of each other, e.g. by NTP). A sender whose clock is further
//   behind is refused until a round trip with it; one further ahead is limited
//   only by the replay window;
// - after a reply to one of our requests (fresh by construction: it answers a
//   frame of this process): our start plus the offset that reply shows, less
//   `marginMs`. The reply was made between our send and its arrival, so the
//   offset measured on arrival is at most one round trip too low.
// Bounded: senders forgotten least recently learned first fall back to the default.

export interface StartFloorOptions {
  startedAtMs: number;
  skewMs: number;
  marginMs: number;
  maxSenders: number;
}

export class StartFloor {
  private readonly learned = new Map<string, number>();

  constructor(private readonly options: StartFloorOptions) {}

  /** The earliest timestamp (sender's clock) accepted from this sender. */
  floorMs(sender: string): number {
    return this.learned.get(sender) ?? this.options.startedAtMs - this.options.skewMs;
  }

  allows(sender: string, timestampMs: number): boolean {
    return timestampMs >= this.floorMs(sender);
  }

  /** A reply to our request, made at `theirTimestampMs` on its clock, arrived at `nowMs` on ours. */
  learn(sender: string, theirTimestampMs: number, nowMs: number): void {
    const offsetMs = theirTimestampMs - nowMs;
    this.learned.delete(sender);
    if (this.learned.size >= this.options.maxSenders) {
      const oldest = this.learned.keys().next().value;
      if (oldest !== undefined) this.learned.delete(oldest);
    }
    this.learned.set(sender, this.options.startedAtMs + offsetMs - this.options.marginMs);
  }
}
