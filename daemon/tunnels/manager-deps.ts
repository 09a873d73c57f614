// What the tunnel manager needs of the rest of the daemon: its options and the
// narrow interfaces of its dependencies (node.ts adapts the real parts to them).
import type { Logger } from 'pino';
import type { Incoming, PeerAddress, PeerSource } from '../peerproto/protocol.js';
import type { MessageOf, PeerMessage } from '../../wire/messages.js';
import type { PeerRecord } from '../peers/peer-db.js';
import type { SupervisorEvent } from '../supervisor/supervisor.js';
import type { ChildSpec } from '../sys/spawner.js';
import type { Clock } from '../sys/clock.js';
import type { EventLog } from '../events.js';
import type { PlanPeer, TunnelPolicy } from './plan.js';

/** One end of a tunnel as the openvpn argv builder needs it. */
export interface TunnelEnd {
  role: 'client' | 'server';
  peer: string;
  ifName: string;
  /** The UDP port this end binds (server: listens; punched client: `--lport`). */
  localPort?: number;
  /** Client: the server's underlay address. */
  remote?: { host: string; port: number };
}

/** What the manager needs of babeld (node.ts adapts the BabelClient). */
export interface TunnelBabel {
  /** Starts babel on a tunnel interface (it may appear later). */
  addInterface(ifName: string): Promise<void>;
  /** Stops babel on it (the tunnel is gone). */
  removeInterface(ifName: string): Promise<void>;
  /** Raises the cost of routes learned over it, so traffic moves elsewhere first. */
  raiseCost(ifName: string): Promise<void>;
  /** Routes babel has installed through the interface now. */
  routeCount(ifName: string): number;
  /** The interface of babel's installed route to a prefix (null: none); lets a drain check that the peer stays reachable. */
  routeVia?(prefix: string): string | null;
  /** Undoes raiseCost (a drain given up). */
  restoreCost?(ifName: string): Promise<void>;
}

/** Detour routes while babel moves traffic off a tunnel (detour-routes.ts). */
export interface TunnelDetours {
  /** Installs detours for what goes through the interface; resolves once they are in the kernel. */
  cover(ifName: string, reason: string): Promise<unknown>;
  /** The interface carries traffic again, or is gone. */
  release(ifName: string): void;
  /** Destinations through the interface that have no other safe route yet. */
  uncovered(ifName: string): string[];
}

export interface TunnelPeerStore {
  getPeer(prefix: string): PeerRecord | undefined;
  upsertPeer(report: { prefix: string; addresses: string[]; source: 'peer'; certSerial?: string }, nowMs: number): unknown;
  /** `error`: what the attempt threw, so a failure of this host is not held against the peer (peers/peer-health.ts). */
  recordFailure(prefix: string, reason: string, nowMs: number, error?: unknown): { becameDead: boolean; deadReason: string | null; failures: number } | undefined;
  /** The peer refused because it is full: alive, left alone a while (no failure counted). */
  recordBusy?(prefix: string, reason: string, nowMs: number): { retryAtMs: number } | undefined;
  /** The peer showed it is alive: revives it when dead of failures. */
  recordProofOfLife?(prefix: string, how: string, nowMs: number): unknown;
  recordSuccess(prefix: string, nowMs: number): { wasDead: boolean } | undefined;
  markDead(prefix: string, reason: string, nowMs: number): boolean;
}

export interface TunnelPeerProto {
  request(to: PeerAddress, msg: PeerMessage, options: { timeoutMs: number; attempts?: number; signal?: AbortSignal }): Promise<Incoming>;
  send(to: PeerAddress, msg: PeerMessage): Promise<void>;
  setHandler(kind: 'tunnel-request', handler: (ev: Incoming<MessageOf<'tunnel-request'>>) => PeerMessage | undefined | Promise<PeerMessage | undefined>): void;
  on(event: 'drain', listener: (ev: Incoming<MessageOf<'drain'>>) => unknown): () => void;
}

export interface TunnelSupervisor {
  start(spec: ChildSpec, options: { onLine?: (line: string, pid: number) => void }): void;
  stop(name: string): Promise<void>;
  pid(name: string): number | undefined;
  on(listener: (event: SupervisorEvent) => void): () => void;
}

export interface TunnelManagerOptions {
  ownPrefix: string;
  /** The peer-protocol port; incoming tunnels use underlayPort+1 … underlayPort+maxClients. */
  underlayPort: number;
  maxClients: number;
  /** A new tunnel that is not up after this long counts as a failed attempt. */
  connectTimeoutMs: number;
  /** A tunnel that stays down this long (after having been up) is closed. */
  lostTimeoutMs: number;
  /** Each tunnel-request attempt waits this long for the answer. */
  requestTimeoutMs: number;
  requestAttempts: number;
  /** A drain waits at most this long for babel to move the routes away. */
  drainTimeoutMs: number;
  /**
   * How long a drain waits for the peer's ack (its routes left the tunnel and its cost is
   * raised too) before it watches its own routes; 0: it does not wait (a peer that never acks).
   */
  drainAckTimeoutMs?: number;
  /** After the ack, time for the peer's raised cost to reach our babel (a couple of hellos). */
  drainSettleMs?: number;
  /** After announcing a drain, time the peer has to refuse it before our cost goes up (0: none). */
  drainObjectionMs?: number;
}


export interface TunnelManagerDeps {
  clock: Clock;
  log: Logger;
  events: EventLog;
  supervisor: TunnelSupervisor;
  peerproto: TunnelPeerProto;
  peers: TunnelPeerStore;
  babel: TunnelBabel;
  /** argv of one openvpn end (daemon/openvpn/argv.ts with the node's paths). */
  openvpnArgv: (end: TunnelEnd) => string[];
  ifNameFor: (peer: string) => string;
  /** Whether a UDP port can be bound now (default: a real bind test). */
  isUdpPortFree?: (port: number) => Promise<boolean>;
  /** What the planner needs beyond the tunnels themselves, read at each round. */
  planContext: () => PlanContext;
  /** The order in which to try a peer's addresses (default: as stored). */
  orderAddresses?: (addresses: readonly string[]) => string[];
  /**
   * Whether an underlay host lies on a subnet of one of our interfaces: a LAN we share with
   * the peer, where a request and openvpn's packets cross no NAT whatever our NAT classes
   * (default: never).
   */
  onLocalSubnet?: (host: string) => boolean;
  rand: () => number;
  /** Detour routes around tunnels that stop carrying traffic (none: babel alone). */
  detours?: TunnelDetours;
  /** The peer says its end of our tunnel stopped (drain phase 'down'): link liveness acts on it. */
  onPeerDown?: (peer: string, reason: string) => void;
  /** Runs a planning round soon (a failed or refused attempt leaves a slot to fill). */
  replanSoon?: () => void;
  /** A tunnel came up, or link liveness restored it: greet the peer's babeld and ask it for its routes now (route-request.ts). */
  requestRoutes?: (ifName: string, peer: string) => void;
  /**
   * The port a tunnel-accept names for our server end on `port`, given where the request came
   * from: the UPnP-mapped external port when the request crossed our router (upnp/tunnel-port.ts).
   * Default: `port`.
   */
  tunnelPortFor?: (port: number, from: PeerSource) => number;
}

export interface PlanContext {
  peers: PlanPeer[];
  /** Prefixes babel has a route to. */
  reachable: string[];
  neighbours: string[];
  clientCount: number;
  policy: TunnelPolicy;
  /** This host's worst timer lateness lately (ms, sys/lateness.ts): a starved host holds its tunnels still. */
  lateMs?: number;
  /** Bytes/s we exchange with each destination prefix (sys/dest-traffic.ts), when measured. */
  destinationTraffic?: ReadonlyMap<string, number>;
  /** Destination prefix → the peer whose tunnel carries our route to it now. */
  destinationVia?: ReadonlyMap<string, string>;
}
