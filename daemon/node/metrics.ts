// The node's metrics endpoint, loaded after the start (its own bundle chunk) and only
// when [metrics] is on; a failure to load it is logged, the node runs on without it.
import type { Logger } from 'pino';
import { metricsAddress } from '../../config/metrics-listen.js';
import type { NodeConfig } from '../../config/node-config.js';
import type { NodeMetricsDeps, RunningNodeMetrics } from '../metrics/node-endpoint.js';

export function loadNodeMetrics(section: NodeConfig['metrics'], deps: NodeMetricsDeps, log: Pick<Logger, 'warn'>): Promise<RunningNodeMetrics | undefined> | undefined {
  if (!metricsAddress(section)) return undefined;
  return import('../metrics/node-endpoint.js').then((m) => m.startNodeMetrics(section, deps)).catch((err: unknown) => void log.warn({ err }, 'metrics not started'));
}
