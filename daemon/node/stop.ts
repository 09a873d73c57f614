// The node's stop order, which leaves nothing behind: babeld's retractions go out
// before the tunnels close, the tunnels before the host's addresses and routes, the
// control socket last. A step that fails is logged and the next one runs.
import type { Logger } from 'pino';
import type { HealthRegistry } from '../health/health.js';
import type { LatenessMeter } from '../sys/lateness.js';
import { tearDownHost } from './host-setup.js';
import type { RunningParts, StartProgress } from './parts.js';

export interface StopDeps {
  log: Logger;
  health: Pick<HealthRegistry, 'stop'>;
  lateness: Pick<LatenessMeter, 'stop'>;
  eventStore: { close(): unknown };
}

/** Stops whichever parts exist (a stop during the start stops what was built so far). */
export async function stopParts(p: RunningParts, progress: StartProgress, d: StopDeps): Promise<void> {
  const step = async (what: string, fn: () => Promise<unknown> | unknown): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      d.log.warn({ err, step: what }, 'stop step failed');
    }
  };
  await step('metrics', async () => (await progress.metrics)?.stop());
  await step('registry', () => p.registrySync?.stop());
  await step('gossip', () => p.gossip?.stop());
  await step('links', () => p.links?.stop());
  await step('peer health', () => p.peerHealth?.stop());
  await step('addresses', () => p.addresses?.stop());
  await step('lan', () => p.lan?.stop());
  p.nat?.stop();
  await step('periodic', () => p.jobs?.idle());
  p.routeRequests?.stop();
  await step('babeld', () => p.babel?.stop());
  d.lateness.stop();
  await step('tunnels', () => p.manager?.stop());
  await step('detour routes', () => p.detours?.stop());
  await step('children', () => p.supervisor?.stopAll());
  await step('peer protocol', () => p.peerproto?.stop());
  await step('upnp', () => p.upnp?.stop());
  await step('traffic counters', async () => {
    await progress.destTrafficStarting;
    await p.destTraffic?.stop();
  });
  const held = p.network?.held;
  if (progress.hostSetUp && p.identity && held) {
    const spec = { prefix: p.identity.cert.prefix, networkPrefix: held.config.network_prefix };
    const ifNames = (p.manager?.list() ?? []).map((t) => t.ifName);
    await step('network teardown', () => tearDownHost(spec, ifNames, { log: d.log }));
  }
  p.registry?.close();
  d.health.stop();
  await step('peer db', () => p.peerDb?.close());
  await step('events store', () => d.eventStore.close());
  await step('control', () => p.control?.stop());
  d.log.info('stopped');
}
