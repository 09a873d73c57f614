// The node's registry sync, wired: heartbeats describe the node, bootstrap
// peers go to the peer DB, a newer network config is offered to the holder,
// and a renewed certificate replaces the identity and the client's TLS key.
import type { Logger } from 'pino';
import type { NatMonitor } from '../nat/nat-monitor.js';
import type { AddressAnnouncer } from '../addresses/announcer.js';
import type { EventLog } from '../events.js';
import type { HealthRegistry } from '../health/health.js';
import type { PeerDb } from '../peers/peer-db.js';
import { RegistrySync } from '../registry-sync.js';
import type { Settings } from '../settings.js';
import type { Clock } from '../sys/clock.js';
import type { TunnelManager } from '../tunnels/manager.js';
import type { BootstrapPeer } from '../../wire/registry-api.js';
import { heartbeatBody } from './heartbeat.js';
import { adoptRenewedCertificate, type Identity } from './identity.js';
import type { NetworkConfigHolder } from './network-config.js';
import type { RegistryConnection } from './registry-connection.js';

export interface NodeRegistryDeps {
  clock: Clock;
  log: Logger;
  health: HealthRegistry;
  events: EventLog;
  settings: () => Settings;
  identity: { get(): Identity; set(identity: Identity): void };
  registry: RegistryConnection;
  network: NetworkConfigHolder;
  peerDb: PeerDb;
  manager: TunnelManager;
  addresses: () => AddressAnnouncer | undefined;
  nat?: () => NatMonitor | undefined;
  onBootstrapPeers: (peers: readonly BootstrapPeer[]) => void;
}

export function startRegistrySync(d: NodeRegistryDeps): RegistrySync {
  const version = () => d.network.held!.config.version;
  const sync = new RegistrySync(d.settings().registry, {
    clock: d.clock,
    log: d.log,
    health: d.health,
    api: () => d.registry.api,
    useUrl: (url) => d.registry.useUrl(url),
    heartbeatBody: () => {
      const s = d.settings();
      return heartbeatBody({ port: s.start.port, configured: s.underlay.addresses, addresses: d.addresses(), tunnels: d.manager, peerDb: d.peerDb, configVersion: version(), nat: d.nat?.() });
    },
    livePeerCount: () => d.peerDb.listPeers({ dead: false }).length,
    configVersion: version,
    certificateNotAfterMs: () => d.identity.get().cert.notAfterMs,
    // Loaded when needed: the CSR library is a large share of the daemon's start-up time.
    createCsr: async () => (await import('../../pki/keys.js')).createCsrPem(d.identity.get().keyPem, d.identity.get().cert.prefix),
    onSeenAddress: (ip) => d.addresses()?.setSeenAddress(ip),
    onBootstrapPeers: d.onBootstrapPeers,
    onNetworkConfig: (signed) => d.network.offer(signed, 'registry'),
    onCrl: () => undefined, // the CRL rides in the signed network config
    onRenewed: (certPem) => {
      const id = adoptRenewedCertificate(d.identity.get(), certPem, d.settings().start.identity.cert, d.clock.nowMs());
      d.identity.set(id);
      d.registry.reconnect();
      d.events.add('daemon', `certificate renewed: serial ${id.cert.serial}, valid until ${new Date(id.cert.notAfterMs).toISOString()}`);
    },
  });
  sync.start();
  return sync;
}
