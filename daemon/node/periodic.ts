// The node's periodic jobs: sampling tunnel traffic (/proc/net/dev) and, when
// worth it (dest-sample.ts), per-destination traffic (nft); and the tunnel plan
// round (often while tunnels are missing or opening, seldom once all are up).
import type { Logger } from 'pino';
import { every, type Periodic } from '../every.js';
import { TIMING } from '../settings.js';
import type { Clock } from '../sys/clock.js';
import type { DestinationTrafficMeter } from '../sys/dest-traffic.js';
import { readNetDevSync } from '../sys/netdev.js';
import { destSampleDue } from './dest-sample.js';
import type { TunnelManager } from '../tunnels/manager.js';

export interface PeriodicDeps {
  clock: Clock;
  log: Logger;
  signal: AbortSignal;
  manager: TunnelManager;
  destTraffic: () => DestinationTrafficMeter | undefined;
  peerPrefixes: () => string[];
  clientCount: () => number;
}

export interface PeriodicJobs {
  /** Runs a plan round soon. */
  replanSoon(): void;
  /** Resolves once no job is running (after the signal aborted them). */
  idle(): Promise<void>;
}

export function startPeriodicJobs(deps: PeriodicDeps): PeriodicJobs {
  const { clock, log, signal, manager } = deps;
  let destSampledAtMs: number | undefined;
  const sampler = every(
    TIMING.trafficSampleMs,
    'traffic-sample',
    async () => {
      // Read in place, as link liveness does: an async read is five thread-pool round trips (wake-ups).
      const counters = readNetDevSync();
      const nowMs = clock.nowMs();
      manager.sampleTraffic(counters, nowMs);
      const meter = deps.destTraffic();
      if (!meter?.running) return;
      const traffic = { tunnels: manager.list().map((t) => t.rxBytesPerSec + t.txBytesPerSec), destinations: [...meter.rates().values()].map((r) => r.bytesPerSec) };
      if (!destSampleDue(nowMs, destSampledAtMs, traffic)) return;
      destSampledAtMs = nowMs;
      await meter.sample(deps.peerPrefixes());
    },
    { clock, log, signal, timeoutMs: 2_000, firstDelayMs: 1_000 },
  );
  const plan: Periodic = every(
    TIMING.planBusyMs,
    'tunnel-plan',
    async (s) => {
      await manager.planRound(s);
      const busy = manager.belowTarget(deps.clientCount()) || manager.list().some((t) => t.state !== 'up');
      plan.setIntervalMs(busy ? TIMING.planBusyMs : TIMING.planIdleMs);
    },
    { clock, log, signal, timeoutMs: 60_000, firstDelayMs: 0 },
  );
  return {
    replanSoon: () => plan.trigger(),
    idle: async () => {
      await sampler.idle();
      await plan.idle();
    },
  };
}
