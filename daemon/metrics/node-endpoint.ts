// The node's metrics endpoint, wired to the running parts. The daemon imports
// this module only when [metrics] is on, after its start (a chunk of its bundle):
// prom-client costs nothing to a node that does not serve metrics.
import type { Logger } from 'pino';
import { formatListen, metricsAddress } from '../../config/metrics-listen.js';
import type { NodeConfig } from '../../config/node-config.js';
import { ResilnetError } from '../../config/errors.js';
import type { HealthRegistry } from '../health/health.js';
import type { RunningParts } from '../node/parts.js';
import type { Clock } from '../sys/clock.js';
import type { LatenessSource } from '../sys/lateness.js';
import { MetricsEndpoint } from './endpoint.js';
import { NodeMetrics, type ReloadResult } from './node-metrics.js';
import { nodeSnapshot } from './node-source.js';

export const METRICS_HEALTH = 'RN_METRICS_LISTEN_FAILED';

export interface NodeMetricsDeps {
  parts: RunningParts;
  clock: Clock;
  health: HealthRegistry;
  log: Logger;
  lateness: LatenessSource;
  startedAtMs: number;
}

export interface RunningNodeMetrics {
  /** "IP:PORT" served, or null when the endpoint could not listen (health item raised). */
  readonly listen: string | null;
  reloaded(result: ReloadResult): void;
  stop(): Promise<void>;
}

/**
 * Serves the node's metrics where `section` says; undefined when they are off. A port
 * that cannot be bound is a health item, never a reason for the daemon to stop.
 */
export async function startNodeMetrics(section: NodeConfig['metrics'], d: NodeMetricsDeps): Promise<RunningNodeMetrics | undefined> {
  const address = metricsAddress(section);
  if (!address) return undefined;
  const metrics = new NodeMetrics(() => nodeSnapshot(d.parts, { nowMs: d.clock.nowMs(), startedAtMs: d.startedAtMs, lateness: d.lateness }), { topPeers: section.top_peers });
  const unsubscribe = d.parts.supervisor?.on((ev) => {
    if (ev.kind === 'child-started' && ev.restarts > 0) metrics.childRestarted(ev.name);
  });
  const endpoint = new MetricsEndpoint({ render: () => metrics.scrape(), contentType: metrics.contentType, log: d.log });
  let listen: string | null = null;
  try {
    listen = formatListen(await endpoint.start(address));
    d.log.info({ listen }, 'metrics endpoint serving');
  } catch (err) {
    if (!(err instanceof ResilnetError)) throw err;
    d.log.warn({ err }, 'metrics endpoint not serving');
    d.health.raise({ code: METRICS_HEALTH, title: 'Metrics endpoint not serving', severity: 'warning', text: `${err.message}. ${err.hint ?? ''} Then restart the daemon.` });
  }
  return {
    listen,
    reloaded: (result) => metrics.reloaded(result),
    stop: async () => {
      unsubscribe?.();
      await endpoint.stop();
    },
  };
}
