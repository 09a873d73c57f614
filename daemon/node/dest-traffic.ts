// Per-destination traffic on the node: an nftables meter started off the
// start-up path; without nft the daemon runs on and says so in its health.
import type { Logger } from 'pino';
import type { ResilnetError } from '../../config/errors.js';
import type { HealthRegistry } from '../health/health.js';
import type { Clock } from '../sys/clock.js';
import { DestinationTrafficMeter } from '../sys/dest-traffic.js';

export async function startDestinationTraffic(networkPrefix: string, deps: { clock: Clock; log: Logger; health: HealthRegistry }): Promise<DestinationTrafficMeter | undefined> {
  const meter = new DestinationTrafficMeter({ networkPrefix }, { clock: deps.clock, log: deps.log });
  try {
    await meter.start();
    return meter;
  } catch (err) {
    const e = err as ResilnetError;
    deps.health.raise({ code: e.code ?? 'RN_SYS_NFT_FAILED', title: 'per-destination traffic is not measured', severity: 'warning', text: e.message });
    return undefined;
  }
}
