// The address announcer as the node runs it: the host's interfaces read again every
// 30 s, every adjacent peer told our addresses again every 5 min, the peer port and the
// configured addresses read from the settings at each check (so a reload applies).
import { networkInterfaces } from 'node:os';
import { AddressAnnouncer, type AddressAnnouncerDeps } from '../addresses/announcer.js';
import type { Settings } from '../settings.js';

export function startNodeAddresses(
  own: { ownPrefix: string; networkPrefix: string },
  d: Omit<AddressAnnouncerDeps, 'readInterfaces' | 'settings'> & { settings: () => Settings },
): AddressAnnouncer {
  const { settings, ...deps } = d;
  const announcer = new AddressAnnouncer(
    { ...own, checkIntervalMs: 5_000, reannounceIntervalMs: 300_000 },
    {
      ...deps,
      readInterfaces: () => networkInterfaces(),
      settings: () => ({ port: settings().start.port, configured: settings().underlay.addresses }),
    },
  );
  announcer.start();
  return announcer;
}
