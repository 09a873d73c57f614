// Replay protection: a frame is fresh when its timestamp is inside ±windowMs of
// our clock and its sequence number has not been accepted from that sender.
// Senders count seq up per process (for every frame, whoever it goes to), so
// per sender a sliding bitmap over the last `seqWindow` numbers below the
// highest one accepted is enough (as IPsec and WireGuard do): it tolerates UDP
// reordering within the window, costs no allocation per frame and a fixed
// amount of memory per sender. A sender that restarts (or wraps its seq) starts
// again from a low seq with a later timestamp: a frame at or below the highest
// seq whose timestamp is newer than every one accepted from that sender starts
// a new run, and frames older than the run's first one are refused from then on.
// Only authenticated frames reach check(), so a forger cannot move a window.
// Time comes in as a parameter.

/** stale: timestamp outside ±windowMs; earlier-run: older than the sender's current run; behind: seq below the window. */
export type ReplayVerdict = 'fresh' | 'stale' | 'replayed' | 'behind' | 'earlier-run';

export interface ReplayGuardOptions {
  windowMs: number;
  /** Sequence numbers remembered below the highest one per sender (a multiple of 32). */
  seqWindow: number;
  /** Senders remembered; the one seen longest ago is forgotten first. */
  maxSenders: number;
}

interface SenderWindow {
  /** Highest seq accepted in the current run. */
  top: number;
  /** Newest timestamp accepted in the current run. */
  newestMs: number;
  /** Timestamp of the run's first frame: older frames belong to an earlier run. */
  floorMs: number;
  /** Bit (seq mod seqWindow) set = that seq was accepted; covers (top - seqWindow, top]. */
  bits: Uint32Array;
}

export class ReplayGuard {
  private readonly senders = new Map<string, SenderWindow>();
  private readonly words: number;

  constructor(private readonly options: ReplayGuardOptions) {
    if (!Number.isInteger(options.seqWindow) || options.seqWindow < 32 || options.seqWindow % 32 !== 0) {
      throw new RangeError(`replay seqWindow must be a positive multiple of 32 (got ${options.seqWindow})`);
    }
    this.words = options.seqWindow / 32;
  }

  /** Cheap pre-check before any crypto: is the timestamp inside the window? */
  inWindow(timestampMs: number, nowMs: number): boolean {
    return Math.abs(nowMs - timestampMs) <= this.options.windowMs;
  }

  /** Cheap pre-check before any crypto: was this frame accepted already? (Records nothing.) */
  seen(sender: string, timestampMs: number, seq: number): boolean {
    const w = this.senders.get(sender);
    if (w === undefined || timestampMs < w.floorMs || seq > w.top || timestampMs > w.newestMs) return false;
    return w.top - seq < this.options.seqWindow && hasBit(w.bits, seq % this.options.seqWindow);
  }

  /** Records the frame if fresh. Call only for frames whose authentication verified. */
  check(sender: string, timestampMs: number, seq: number, nowMs: number): ReplayVerdict {
    if (!this.inWindow(timestampMs, nowMs)) return 'stale';
    let w = this.senders.get(sender);
    if (w === undefined) {
      if (this.senders.size >= this.options.maxSenders) {
        const oldest = this.senders.keys().next().value;
        if (oldest !== undefined) this.senders.delete(oldest);
      }
      w = { top: seq, newestMs: timestampMs, floorMs: -Infinity, bits: new Uint32Array(this.words) };
      setBit(w.bits, seq % this.options.seqWindow);
      this.senders.set(sender, w);
      return 'fresh';
    }
    this.senders.delete(sender); // re-inserted: Map order = least recently seen first
    this.senders.set(sender, w);
    if (timestampMs < w.floorMs) return 'earlier-run';
    if (seq > w.top) {
      this.advance(w, seq);
      if (timestampMs > w.newestMs) w.newestMs = timestampMs;
      return 'fresh';
    }
    if (timestampMs > w.newestMs) {
      // At or below the highest seq, yet newer than anything accepted: a new run of the sender.
      w.bits.fill(0);
      w.top = seq;
      w.newestMs = timestampMs;
      w.floorMs = timestampMs;
      setBit(w.bits, seq % this.options.seqWindow);
      return 'fresh';
    }
    if (w.top - seq >= this.options.seqWindow) return 'behind';
    const bit = seq % this.options.seqWindow;
    if (hasBit(w.bits, bit)) return 'replayed';
    setBit(w.bits, bit);
    return 'fresh';
  }

  forget(sender: string): void {
    this.senders.delete(sender);
  }

  /** Moves the window's top to seq, clearing the bits of the numbers skipped. */
  private advance(w: SenderWindow, seq: number): void {
    const size = this.options.seqWindow;
    if (seq - w.top >= size) {
      w.bits.fill(0);
    } else {
      for (let s = w.top + 1; s <= seq; s++) {
        const bit = s % size;
        // A whole word at once when aligned and fully skipped.
        if ((bit & 31) === 0 && seq - s >= 31) {
          w.bits[bit >>> 5] = 0;
          s += 31;
        } else {
          clearBit(w.bits, bit);
        }
      }
    }
    w.top = seq;
    setBit(w.bits, seq % size);
  }
}

function hasBit(bits: Uint32Array, bit: number): boolean {
  return (bits[bit >>> 5]! & (1 << (bit & 31))) !== 0;
}

function setBit(bits: Uint32Array, bit: number): void {
  bits[bit >>> 5] = bits[bit >>> 5]! | (1 << (bit & 31));
}

function clearBit(bits: Uint32Array, bit: number): void {
  bits[bit >>> 5] = bits[bit >>> 5]! & ~(1 << (bit & 31));
}
