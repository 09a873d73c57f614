// What the node runs with: the one place where the local resilnet.toml and the
// signed network config are merged (a local override wins) and where every
// derived value is computed. The result is deep-frozen and grouped in slices,
// one per part of the daemon; a running part is changed only through its
// `reconfigure(slice)` (see reload.ts), never by reading the files again.
import type { NodeConfig } from '../config/node-config.js';
import type { NetworkConfig } from '../config/network-config.js';
import type { BabelSettings } from './babel-link.js';
import { DEFAULT_TUNNEL_POLICY, type TunnelPolicy } from './tunnels/plan.js';
import type { TunnelManagerOptions } from './tunnels/manager.js';
import { nodePortSpecs, type PortSpec } from './upnp/port-specs.js';

/** Timings of the parts, in one place (not user settings). */
export const TIMING = {
  trafficSampleMs: 5_000,
  planBusyMs: 5_000,
  planIdleMs: 30_000,
  gossipMs: 30_000,
  peerRequestTimeoutMs: 2_000,
  registryCallTimeoutMs: 10_000,
  registryRetryMaxMs: 30_000,
  connectTimeoutMs: 30_000,
  lostTimeoutMs: 60_000,
  drainTimeoutMs: 20_000,
  upnpStartDelayMs: 3_000,
  /** The initial CRL is parsed this long after start (see node/network-config.ts). */
  crlParseDelayMs: 10_000,
  renewWindowMs: 30 * 86_400_000,
} as const;

export type LogLevel = NodeConfig['node']['log_level'];

/** Read once at start; a change in the file needs a restart. */
export interface StartSettings {
  /** UDP port of the peer protocol; incoming tunnels use the ports above it. */
  port: number;
  stateDir: string;
  runDir: string;
  controlSocket: string;
  identity: { ca: string; cert: string; key: string };
  /** The overlay prefix of the whole network (fixed for a network's life). */
  networkPrefix: string;
  /** Peer retry timers (`[peers]`): the peer DB and its health keeper are built with them. */
  peers: NodeConfig['peers'];
  /** Sections the parts read once at start (metrics endpoint, LAN discovery, NAT probes): a change needs a restart. */
  readAtStart: { metrics: NodeConfig['metrics']; lan: NodeConfig['lan']; nat: NodeConfig['nat'] };
}

export interface TunnelSettings {
  /** TunnelManager.reconfigure takes this (its own prefix is not a setting). */
  manager: Omit<TunnelManagerOptions, 'ownPrefix'>;
  /** What the planner reads at each round. */
  clientCount: number;
  neighbours: readonly string[];
  policy: TunnelPolicy;
  /** openvpn --data-ciphers for tunnels opened from now on. */
  dataCiphers: readonly string[];
}

export interface LinkSettings {
  helloIntervalSec: number;
  misses: number;
  /** Bare beats instead of most signed hellos on live links (tunnels/hello-kind.ts). */
  beats: boolean;
}

export interface RegistrySettings {
  url: string;
  heartbeatIntervalMs: number;
  /** Ask for bootstrap peers while fewer live peers than this are known. */
  minLivePeers: number;
  bootstrapCount: number;
  renewWindowMs: number;
  callTimeoutMs: number;
}

export interface UnderlaySettings {
  /** Extra addresses to announce (resilnet.toml underlay.addresses). */
  addresses: readonly string[];
}

export interface UpnpSettings {
  enabled: boolean;
  leaseSec: number;
  /** The peer-protocol port and the whole incoming-tunnel range. */
  ports: readonly PortSpec[];
}

export interface Settings {
  start: StartSettings;
  log: { level: LogLevel };
  babel: BabelSettings;
  links: LinkSettings;
  tunnels: TunnelSettings;
  registry: RegistrySettings;
  underlay: UnderlaySettings;
  upnp: UpnpSettings;
}

export type SliceName = keyof Settings;
/** Slices a running node can change; `start` needs a restart. */
export type LiveSliceName = Exclude<SliceName, 'start'>;

/** Peers asked of the registry in one bootstrap call. */
const BOOTSTRAP_COUNT = 16;

export interface SettingsOverrides {
  /** `resilnet daemon --log-level` wins over node.log_level. */
  logLevel?: LogLevel | undefined;
}

/** Pure: the node's settings from its file and the network config. */
export function effectiveSettings(node: NodeConfig, network: NetworkConfig, overrides: SettingsOverrides = {}): Settings {
  const helloSec = node.babel.hello_interval ?? network.babel.hello_interval;
  const clientCount = node.tunnels.client_count ?? network.client_count;
  const maxClients = node.tunnels.max_clients ?? network.max_clients;
  const refreshSec = node.tunnels.refresh ?? network.tunnel_refresh;
  const port = node.underlay.port;
  const drainTimeoutMs = Math.max(TIMING.drainTimeoutMs, helloSec * 8_000);
  return deepFreeze({
    start: {
      port,
      stateDir: node.node.state_dir,
      runDir: node.node.run_dir,
      controlSocket: node.control.socket,
      identity: { ...node.identity },
      networkPrefix: network.network_prefix,
      peers: { ...node.peers },
      readAtStart: { metrics: node.metrics, lan: node.lan, nat: node.nat },
    },
    log: { level: overrides.logLevel ?? node.node.log_level },
    babel: { helloIntervalSec: helloSec },
    links: { helloIntervalSec: node.tunnels.link_hello_interval, misses: node.tunnels.link_hello_misses, beats: node.tunnels.link_beats, idlePace: node.tunnels.link_idle_pace },
    tunnels: {
      manager: {
        underlayPort: port,
        maxClients,
        connectTimeoutMs: TIMING.connectTimeoutMs,
        lostTimeoutMs: TIMING.lostTimeoutMs,
        requestTimeoutMs: TIMING.peerRequestTimeoutMs,
        requestAttempts: 2,
        drainTimeoutMs,
        // The peer acks once its routes left a drained tunnel (followPeerDrain waits up to 10 s for them).
        drainAckTimeoutMs: drainTimeoutMs * 0.75,
        // Our babel hears the peer's raised cost in its next IHU: about two hellos.
        drainSettleMs: Math.max(1_000, helloSec * 2_000),
        // The peer's refusal comes over the underlay within milliseconds; this allows for a busy peer.
        drainObjectionMs: 500,
      },
      clientCount,
      neighbours: [...node.tunnels.neighbours],
      policy: {
        ...DEFAULT_TUNNEL_POLICY,
        refreshIntervalMs: refreshSec * 1000,
        minTunnelAgeMs: node.tunnels.min_age * 1000,
        // A backstop behind the manager's own time-out, which waits up to 3 × for a handshake still moving.
        openTimeoutMs: TIMING.connectTimeoutMs * 4,
      },
      dataCiphers: network.cipher.split(':').filter(Boolean),
    },
    registry: {
      url: node.registry.url,
      heartbeatIntervalMs: node.registry.heartbeat_interval * 1000,
      minLivePeers: Math.max(2, clientCount),
      bootstrapCount: BOOTSTRAP_COUNT,
      renewWindowMs: TIMING.renewWindowMs,
      callTimeoutMs: TIMING.registryCallTimeoutMs,
    },
    underlay: { addresses: [...node.underlay.addresses] },
    upnp: { enabled: node.upnp.enabled, leaseSec: node.upnp.lease, ports: nodePortSpecs(port, maxClients) },
  });
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
