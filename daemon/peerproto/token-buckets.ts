// Token buckets per key (a source address, or one shared key), in a bounded map:
// how the peer protocol rations the checks that cost hundreds of µs (a full
// certificate check, a signature that turned out wrong) so that a flood of
// garbage cannot occupy a core. Pure: time comes in as a parameter. A key
// forgotten to make room comes back with a full bucket, so a flood from many
// spoofed addresses is bounded by a shared bucket on top (see protocol.ts).

export interface TokenBucketOptions {
  /** Tokens added per second. */
  ratePerSec: number;
  /** Most tokens a bucket holds (the burst allowed after a quiet time). */
  burst: number;
  /** Keys remembered; the one used longest ago is forgotten first. */
  maxKeys: number;
}

interface Bucket {
  tokens: number;
  atMs: number;
}

export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly options: TokenBucketOptions) {}

  /** True when the key has a whole token (nothing is taken). */
  has(key: string, nowMs: number): boolean {
    return this.refill(key, nowMs).tokens >= 1;
  }

  /** Takes one token; false (and nothing taken) when the bucket is empty. */
  take(key: string, nowMs: number): boolean {
    const b = this.refill(key, nowMs);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  get size(): number {
    return this.buckets.size;
  }

  private refill(key: string, nowMs: number): Bucket {
    let b = this.buckets.get(key);
    if (b === undefined) {
      if (this.buckets.size >= this.options.maxKeys) {
        const oldest = this.buckets.keys().next().value;
        if (oldest !== undefined) this.buckets.delete(oldest);
      }
      b = { tokens: this.options.burst, atMs: nowMs };
    } else {
      this.buckets.delete(key); // re-insert below: Map order = least recently used first
      const elapsedMs = Math.max(0, nowMs - b.atMs);
      b.tokens = Math.min(this.options.burst, b.tokens + (elapsedMs * this.options.ratePerSec) / 1000);
      b.atMs = nowMs;
    }
    this.buckets.set(key, b);
    return b;
  }
}

export interface RationOptions {
  /** Each source address: tokens per second and burst. */
  perSourcePerSec: number;
  perSourceBurst: number;
  /** All sources together. */
  totalPerSec: number;
  totalBurst: number;
  /** Source addresses remembered (default 4096). */
  maxSources?: number;
}

/**
 * A budget per source address and one shared by all of them. A trusted caller
 * (an address confirmed by a round trip) still needs its own budget, but not
 * the shared one, so a flood from spoofed addresses cannot lock known peers out.
 */
export class SourceRation {
  private readonly perSource: TokenBuckets;
  private readonly total: TokenBuckets;

  constructor(options: RationOptions) {
    this.perSource = new TokenBuckets({ ratePerSec: options.perSourcePerSec, burst: options.perSourceBurst, maxKeys: options.maxSources ?? 4096 });
    this.total = new TokenBuckets({ ratePerSec: options.totalPerSec, burst: options.totalBurst, maxKeys: 1 });
  }

  has(source: string, nowMs: number, trusted = false): boolean {
    return this.perSource.has(source, nowMs) && (trusted || this.total.has('', nowMs));
  }

  /** Takes a token from both when both have one (or the source's alone when trusted). */
  take(source: string, nowMs: number, trusted = false): boolean {
    if (!this.has(source, nowMs, trusted)) return false;
    this.charge(source, nowMs);
    return true;
  }

  /** Spends a token whether or not there is one (after the fact: a check that failed). */
  charge(source: string, nowMs: number): void {
    this.perSource.take(source, nowMs);
    this.total.take('', nowMs);
  }
}
