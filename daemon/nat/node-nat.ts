// The NAT monitor wired to the node: its evidence comes from the address
// announcer (our interface addresses, the registry's view, the UPnP mapping),
// its STUN servers from resilnet.toml [nat] (read at start).
import type { Logger } from 'pino';
import type { AddressAnnouncer } from '../addresses/announcer.js';
import type { Clock } from '../sys/clock.js';
import type { NatClass } from './classify.js';
import { NatMonitor } from './nat-monitor.js';
import { openStunSocket, parseStunServer } from './stun-client.js';

/** First check a little after start: the registry's first heartbeat reply is part of the evidence. */
export const FIRST_NAT_CHECK_DELAY_MS = 5_000;

export function startNodeNat(d: {
  clock: Clock;
  log: Pick<Logger, 'info' | 'warn' | 'debug'>;
  config: { stun: readonly string[]; check_interval: number };
  addresses: () => AddressAnnouncer | undefined;
  onChange: (natClass: NatClass) => void;
  /** What the UPnP reach check found, in words (NodeUpnp.reachEvidence). */
  upnpReach?: () => string | null;
}): NatMonitor {
  const monitor = new NatMonitor({
    clock: d.clock,
    log: d.log,
    servers: d.config.stun.map(parseStunServer),
    intervalMs: d.config.check_interval * 1000,
    evidence: () => {
      const a = d.addresses();
      const status = a?.status();
      return {
        localAddresses: (a?.localAddresses() ?? []).map((l) => l.ip),
        seenAddress: status?.seenAddress ?? null,
        upnp: status?.upnp ?? null,
        upnpReach: d.upnpReach?.() ?? null,
      };
    },
    open: () => openStunSocket(),
    onChange: d.onChange,
  });
  monitor.start(FIRST_NAT_CHECK_DELAY_MS);
  return monitor;
}
