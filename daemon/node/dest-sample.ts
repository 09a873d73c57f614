// When the per-destination counters are worth reading. Each reading runs nft
// (a process), and the planner only acts on a destination with steady traffic
// (≥ 10 kB/s by default), which shows on at least one tunnel interface. So the
// counters are read at the traffic cadence while some tunnel carries more than
// link upkeep (hellos, babel, openvpn pings: ~2.7 kB/s rx+tx per tunnel at
// hello 1 s, measured), and otherwise only as often as an idle plan round looks
// at them. The rates' EWMA takes irregular readings as they come.

export interface DestSampleCadence {
  /** A reading at least this often, whatever the traffic (the idle plan cadence). */
  quietIntervalMs: number;
  /** A tunnel at or above this rate (rx + tx, smoothed) makes every traffic sample read the counters. */
  busyTunnelBytesPerSec: number;
}

export const DEST_SAMPLE_CADENCE: DestSampleCadence = { quietIntervalMs: 30_000, busyTunnelBytesPerSec: 8_000 };

/** Whether to read the counters now; `lastAtMs` is the last reading (undefined: none yet). */
export function destSampleDue(nowMs: number, lastAtMs: number | undefined, tunnelBytesPerSec: Iterable<number>, cadence: DestSampleCadence = DEST_SAMPLE_CADENCE): boolean {
  if (lastAtMs === undefined || nowMs - lastAtMs >= cadence.quietIntervalMs) return true;
  for (const bps of tunnelBytesPerSec) if (bps >= cadence.busyTunnelBytesPerSec) return true;
  return false;
}
