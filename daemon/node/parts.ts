// The parts of a running node as the hub (node.ts) holds them. Each is set once
// it is built, so stop, the control views and the settings appliers work with
// whichever exist while the node starts or stops.
import type { NatMonitor } from '../nat/nat-monitor.js';
import type { PeerNatClasses } from '../nat/peer-classes.js';
import type { AddressAnnouncer } from '../addresses/announcer.js';
import type { BabelLink } from '../babel-link.js';
import type { ControlServer } from '../control/server.js';
import type { Gossip } from '../gossip.js';
import type { LanDiscovery } from '../lan/discovery.js';
import type { PeerProtocol } from '../peerproto/index.js';
import type { PeerDb } from '../peers/peer-db.js';
import type { PeerHealth } from '../peers/peer-health.js';
import type { RegistrySync } from '../registry-sync.js';
import type { Supervisor } from '../supervisor/index.js';
import type { DestinationTrafficMeter } from '../sys/dest-traffic.js';
import type { DetourRoutes } from '../tunnels/detour-routes.js';
import type { LinkMonitor } from '../tunnels/link-monitor.js';
import type { TunnelManager } from '../tunnels/manager.js';
import type { RouteRequests } from '../tunnels/route-request.js';
import type { RunningNodeMetrics } from '../metrics/node-endpoint.js';
import type { Identity } from './identity.js';
import type { NetworkConfigHolder } from './network-config.js';
import type { PeriodicJobs } from './periodic.js';
import type { NodeSettings } from './reconfigure.js';
import type { RegistryConnection } from './registry-connection.js';
import type { NodeUpnp } from './upnp.js';

export interface Parts {
  control: ControlServer;
  identity: Identity;
  peerDb: PeerDb;
  peerHealth: PeerHealth;
  registry: RegistryConnection;
  network: NetworkConfigHolder;
  settings: NodeSettings;
  supervisor: Supervisor;
  babel: BabelLink;
  detours: DetourRoutes;
  peerproto: PeerProtocol;
  manager: TunnelManager;
  routeRequests: RouteRequests;
  gossip: Gossip;
  links: LinkMonitor;
  addresses: AddressAnnouncer;
  jobs: PeriodicJobs;
  registrySync: RegistrySync;
  upnp: NodeUpnp;
  /** LAN discovery; absent when lan.interfaces is empty. */
  lan: LanDiscovery;
  nat: NatMonitor;
  /** Peers' NAT classes (hole punching, bootstrap answers); made on first use (bootstrap-peers.ts peerNatClasses). */
  peerClasses: PeerNatClasses;
  /** Per-destination traffic (nftables); absent when nft is unavailable. */
  destTraffic: DestinationTrafficMeter;
}

export type RunningParts = Partial<Parts>;

/** What the start did besides building parts, read when stop and reload reach it. */
export interface StartProgress {
  /** The host setup ran (its teardown is due at stop). */
  hostSetUp: boolean;
  /** Per-destination traffic counters being set up (nft). */
  destTrafficStarting?: Promise<void>;
  /** The metrics endpoint, loaded after the start; absent when [metrics] is off. */
  metrics?: Promise<RunningNodeMetrics | undefined>;
}
