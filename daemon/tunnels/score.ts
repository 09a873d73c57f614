// Tunnel scoring, pure: traffic as an EWMA of bytes/s from successive interface
// counter samples (/sys/class/net/IF/statistics or /proc/net/dev), and a score
// from the routes babel sends through the tunnel plus that traffic.

export interface CounterSample {
  atMs: number;
  rxBytes: number;
  txBytes: number;
}

export interface TrafficEwma {
  /** Smoothed rx + tx rate. */
  bytesPerSec: number;
  last: CounterSample;
  /** Rates folded in so far (0: only a baseline sample). */
  samples: number;
}

/** Time constant of the EWMA: a step change is ~63 % visible after this long. */
export const DEFAULT_TRAFFIC_TAU_MS = 60_000;

/**
 * Folds one counter sample into the average. The weight depends on the time
 * since the previous sample (1 − e^(−Δt/τ)), so irregular sampling (a late
 * timer, a skipped tick) does not distort it. Counters that went backwards (the
 * interface was re-created) start a new baseline; a sample not newer than the
 * last is ignored.
 */
export function updateTrafficEwma(prev: TrafficEwma | undefined, sample: CounterSample, tauMs = DEFAULT_TRAFFIC_TAU_MS): TrafficEwma {
  if (prev === undefined) return { bytesPerSec: 0, last: sample, samples: 0 };
  const dtMs = sample.atMs - prev.last.atMs;
  if (dtMs <= 0) return prev;
  const drx = sample.rxBytes - prev.last.rxBytes;
  const dtx = sample.txBytes - prev.last.txBytes;
  if (drx < 0 || dtx < 0) return { ...prev, last: sample };
  const rate = ((drx + dtx) * 1000) / dtMs;
  const bytesPerSec = prev.samples === 0 ? rate : prev.bytesPerSec + (1 - Math.exp(-dtMs / tauMs)) * (rate - prev.bytesPerSec);
  return { bytesPerSec, last: sample, samples: prev.samples + 1 };
}

/** One sampling round for every tunnel interface; interfaces that disappeared are dropped. */
export function updateTrafficByInterface(
  prev: ReadonlyMap<string, TrafficEwma>,
  counters: ReadonlyMap<string, { rxBytes: number; txBytes: number }>,
  ifNames: Iterable<string>,
  nowMs: number,
  tauMs = DEFAULT_TRAFFIC_TAU_MS,
): Map<string, TrafficEwma> {
  const next = new Map<string, TrafficEwma>();
  for (const name of ifNames) {
    const c = counters.get(name);
    if (c === undefined) continue;
    next.set(name, updateTrafficEwma(prev.get(name), { atMs: nowMs, rxBytes: c.rxBytes, txBytes: c.txBytes }, tauMs));
  }
  return next;
}

/**
 * A tunnel's worth: one point per route babel sends through it, plus
 * log10(1 + kB/s) for its traffic. Routes dominate, because a tunnel that
 * carries many routes is a shortcut for many destinations (what re6stnet keeps);
 * traffic breaks ties and, on a log scale, lets a busy tunnel weigh like a few
 * routes (1 MB/s ≈ 3 routes). The busiest tunnels are protected outright in
 * plan.ts, so the score need not guard them.
 */
export function tunnelScore(input: { routeCount: number; bytesPerSec: number }): number {
  return input.routeCount + Math.log10(1 + Math.max(0, input.bytesPerSec) / 1000);
}
