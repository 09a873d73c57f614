// When the per-destination counters are worth reading. Each reading runs nft
// (a process: the largest single CPU cost of an idle daemon while it ran twice
// a minute, docs/benchmarks.md), and the planner only acts on a destination
// with steady traffic (≥ 10 kB/s by default), which shows on at least one
// tunnel interface. So the counters are read at the traffic cadence while some
// tunnel carries more than link upkeep (hellos, babel, openvpn pings: ~2.7 kB/s
// rx+tx per tunnel at hello 1 s, measured); every quiet interval while the
// last reading still showed a destination with traffic (so its smoothed rate
// decays); and otherwise, with tunnels and destinations quiet, seldom (the
// readings only keep status views fresh). The rates' EWMA takes irregular
// readings as they come.

export interface DestSampleCadence {
  /** While some destination's rate is at or above busyTunnelBytesPerSec: a reading this often. */
  quietIntervalMs: number;
  /** Tunnels and destinations all below it: a reading this often. */
  idleIntervalMs: number;
  /** A tunnel at or above this rate (rx + tx, smoothed) makes every traffic sample read the counters. */
  busyTunnelBytesPerSec: number;
}

export const DEST_SAMPLE_CADENCE: DestSampleCadence = { quietIntervalMs: 30_000, idleIntervalMs: 300_000, busyTunnelBytesPerSec: 8_000 };

export interface TrafficNow {
  /** Smoothed rx + tx per tunnel. */
  tunnels: Iterable<number>;
  /** Smoothed rx + tx per destination, as the last reading left them. */
  destinations: Iterable<number>;
}

/** Whether to read the counters now; `lastAtMs` is the last reading (undefined: none yet). */
export function destSampleDue(nowMs: number, lastAtMs: number | undefined, traffic: TrafficNow, cadence: DestSampleCadence = DEST_SAMPLE_CADENCE): boolean {
  if (lastAtMs === undefined) return true;
  const busy = (rates: Iterable<number>): boolean => {
    for (const bps of rates) if (bps >= cadence.busyTunnelBytesPerSec) return true;
    return false;
  };
  if (busy(traffic.tunnels)) return true;
  const sinceMs = nowMs - lastAtMs;
  return sinceMs >= cadence.idleIntervalMs || (sinceMs >= cadence.quietIntervalMs && busy(traffic.destinations));
}
