// A newer network config was adopted (its revocations already applied): the settings
// it changes go to their parts, and it is passed on to the adjacent peers, except back
// to the peer it came from.
import type { EventLog } from '../events.js';
import type { HeldNetworkConfig, NetworkConfigOrigin } from '../netconfig.js';
import { outcomeSummary } from '../reload.js';
import type { RunningParts } from './parts.js';

export async function networkConfigAdopted(held: HeldNetworkConfig, p: RunningParts, events: Pick<EventLog, 'add'>): Promise<void> {
  const outcomes = await p.settings!.adopt(held.config);
  if (outcomes.length) events.add('network-config', `settings of version ${held.config.version}: ${outcomeSummary(outcomes)}`);
  void p.gossip?.spreadConfig(configSender(held.origin));
}

/** The peer a config came from; undefined when it came from the registry, a file or the peer DB. */
export function configSender(origin: NetworkConfigOrigin): string | undefined {
  return origin.startsWith('peer ') ? origin.slice('peer '.length) : undefined;
}
