// The tunnel manager: carries out tunnel plans. It owns the live tunnels (one
// openvpn per tunnel end, supervised), opens them over the peer protocol
// (tunnel-request → port → openvpn pair), answers other nodes' requests,
// drains a tunnel through babel before closing it, and reports each link
// change as an event line. Which tunnels to keep is decided by the pure
// planner it is given; this file holds no selection policy.
import { createSocket } from 'node:dgram';
import type { Logger } from 'pino';
import type { Incoming, PeerAddress, PeerSource } from '../peerproto/protocol.js';
import type { MessageOf, PeerMessage } from '../../wire/messages.js';
import type { PeerRecord } from '../peers/peer-db.js';
import type { SupervisorEvent } from '../supervisor/supervisor.js';
import type { ChildSpec } from '../sys/spawner.js';
import type { Clock } from '../sys/clock.js';
import type { EventLog } from '../events.js';
import { eventText } from '../events.js';
import type { TunnelDirection, TunnelState, TunnelView } from '../control/protocol.js';
import { planTunnels, type PlanPeer, type TunnelPlan, type TunnelPolicy, type TunnelSnapshot } from './plan.js';
import { tunnelScore, updateTrafficEwma, type TrafficEwma } from './score.js';

/** One end of a tunnel as the openvpn argv builder needs it. */
export interface TunnelEnd {
  role: 'client' | 'server';
  peer: string;
  ifName: string;
  /** Server: the UDP port it listens on. */
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
  rand: () => number;
  /** Detour routes around tunnels that stop carrying traffic (none: babel alone). */
  detours?: TunnelDetours;
  /** The peer says its end of our tunnel stopped (drain phase 'down'): link liveness acts on it. */
  onPeerDown?: (peer: string, reason: string) => void;
  /** Runs a planning round soon (a failed or refused attempt leaves a slot to fill). */
  replanSoon?: () => void;
}

export interface PlanContext {
  peers: PlanPeer[];
  /** Prefixes babel has a route to. */
  reachable: string[];
  neighbours: string[];
  clientCount: number;
  policy: TunnelPolicy;
  /** Bytes/s we exchange with each destination prefix (sys/dest-traffic.ts), when measured. */
  destinationTraffic?: ReadonlyMap<string, number>;
  /** Destination prefix → the peer whose tunnel carries our route to it now. */
  destinationVia?: ReadonlyMap<string, string>;
}

/** A node that has seen no tunnel request for this long after start probably serves nobody (NAT). */
export const SERVES_NOBODY_AFTER_MS = 10 * 60_000;

export interface Tunnel {
  peer: string;
  direction: TunnelDirection;
  ifName: string;
  childName: string;
  state: TunnelState;
  /** Server side: our listening port. Client side: the server's port. */
  port: number;
  /** The far end on the underlay, once known. */
  remote: string | null;
  /** The peer's certificate serial, from the peer protocol. */
  serial: string | null;
  openedAtMs: number;
  /** When it last came up; null while it never did. */
  upSinceMs: number | null;
  /** When it last went down (or opened, for one never up). */
  downSinceMs: number | null;
  everUp: boolean;
  rxBytesPerSec: number;
  txBytesPerSec: number;
  rx: TrafficEwma | undefined;
  tx: TrafficEwma | undefined;
  protected: boolean;
  score: number | null;
  drainStartedMs: number | null;
  /** Drain bookkeeping: the peer acked ours, or the drain is the peer's (and its close timer). */
  drain?: { ackAtMs: number | null; byPeer: boolean; refused?: boolean; cancelClose?: () => void };
}

const UP_LINE = /Initialization Sequence Completed/;
const PEER_LINE = /Peer Connection Initiated with \[AF_INET6?\]([0-9a-fA-F.:]+?):(\d+)\b/;
const RESTART_LINE = /(SIGUSR1\[[^\]]*\] received, process restarting|Inactivity timeout \(--ping-restart\))/;

export class TunnelManager {
  private readonly tunnels = new Map<string, Tunnel>();
  /** Peers with an outgoing attempt in flight (before the tunnel exists). */
  private readonly opening = new Set<string>();
  private readonly unsubscribe: Array<() => unknown> = [];
  private abort = new AbortController();
  private options: TunnelManagerOptions;
  private startedAtMs = 0;
  private tunnelRequestsSeen = 0;
  private lastRefreshAtMs: number | undefined;
  private lastPlan: TunnelPlan | undefined;
  /** Tunnels the last refresh kept as busiest: their event line is not repeated while they stay kept. */
  private keptBusiest = new Set<string>();

  constructor(options: TunnelManagerOptions, private readonly deps: TunnelManagerDeps) {
    this.options = options;
  }

  start(): void {
    this.abort = new AbortController();
    this.startedAtMs = this.deps.clock.nowMs();
    this.deps.peerproto.setHandler('tunnel-request', (ev) => this.onTunnelRequest(ev));
    this.unsubscribe.push(this.deps.peerproto.on('drain', (ev) => this.onDrainMessage(ev)));
    this.unsubscribe.push(this.deps.supervisor.on((ev) => this.onSupervisorEvent(ev)));
  }

  /** Closes every tunnel (openvpn stopped, babel told); resolves when all are gone. */
  async stop(): Promise<void> {
    this.abort.abort(new Error('daemon stopping'));
    for (const u of this.unsubscribe.splice(0)) u();
    await Promise.all([...this.tunnels.values()].map((t) => this.closeTunnel(t, 'daemon stopping', { quiet: true })));
  }

  reconfigure(options: Partial<TunnelManagerOptions>): void {
    this.options = { ...this.options, ...options };
  }

  list(): Tunnel[] {
    return [...this.tunnels.values()];
  }

  get(peer: string): Tunnel | undefined {
    return this.tunnels.get(peer);
  }

  isAdjacent(peer: string): boolean {
    return this.tunnels.has(peer) || this.opening.has(peer);
  }

  views(nowMs: number): TunnelView[] {
    return this.list().map((t) => ({
      peer: t.peer,
      direction: t.direction,
      interface: t.ifName,
      state: t.state,
      remote: t.remote,
      openedAtMs: t.openedAtMs,
      ageSec: Math.max(0, Math.round((nowMs - t.openedAtMs) / 1000)),
      rxBytesPerSec: Math.round(t.rxBytesPerSec),
      txBytesPerSec: Math.round(t.txBytesPerSec),
      routes: this.deps.babel.routeCount(t.ifName),
      score: t.score,
      protected: t.protected,
      pid: this.deps.supervisor.pid(t.childName) ?? null,
    }));
  }

  /** Folds interface counters (from /proc/net/dev) into each tunnel's traffic EWMA. */
  sampleTraffic(counters: ReadonlyMap<string, { rxBytes: number; txBytes: number }>, nowMs: number): void {
    for (const t of this.tunnels.values()) {
      const c = counters.get(t.ifName);
      if (!c) continue;
      // Two one-sided EWMAs, so rx and tx rates can be shown apart.
      t.rx = updateTrafficEwma(t.rx, { atMs: nowMs, rxBytes: c.rxBytes, txBytes: 0 });
      t.tx = updateTrafficEwma(t.tx, { atMs: nowMs, rxBytes: 0, txBytes: c.txBytes });
      t.rxBytesPerSec = t.rx.bytesPerSec;
      t.txBytesPerSec = t.tx.bytesPerSec;
    }
  }

  /** Whether fewer outgoing tunnels are up or opening than wanted. */
  belowTarget(clientCount: number): boolean {
    return this.list().filter((t) => t.direction === 'outgoing' && t.state !== 'draining').length < clientCount;
  }

  /** The plan of the last round, for logs and status. */
  get latestPlan(): TunnelPlan | undefined {
    return this.lastPlan;
  }

  /**
   * One planning round: close what timed out, ask the planner, carry out its
   * plan (closes now, drains in the background, opens in parallel).
   */
  async planRound(signal: AbortSignal): Promise<TunnelPlan> {
    const nowMs = this.deps.clock.nowMs();
    this.checkTimeouts(nowMs);
    const ctx = this.deps.planContext();
    const minAgeMs = ctx.policy.minTunnelAgeMs;
    const neighbours = new Set(ctx.neighbours);
    const outgoing = this.list().filter((t) => t.direction === 'outgoing');
    for (const t of this.list()) {
      t.score = tunnelScore({ routeCount: this.deps.babel.routeCount(t.ifName), bytesPerSec: t.rxBytesPerSec + t.txBytesPerSec });
      t.protected = neighbours.has(t.peer) || nowMs - t.openedAtMs < minAgeMs;
    }
    const snapshot: TunnelSnapshot = {
      self: this.options.ownPrefix,
      clientCount: ctx.clientCount,
      servesNobody: this.servesNobody(nowMs),
      outgoing: [
        ...outgoing.map((t) => ({
          peer: t.peer,
          state: t.state === 'draining' ? ('draining' as const) : t.state === 'up' ? ('up' as const) : ('opening' as const),
          openedAtMs: t.openedAtMs,
          routeCount: this.deps.babel.routeCount(t.ifName),
          bytesPerSec: t.rxBytesPerSec + t.txBytesPerSec,
        })),
        ...[...this.opening].filter((p) => !this.tunnels.has(p)).map((peer) => ({ peer, state: 'opening' as const, openedAtMs: nowMs, routeCount: 0, bytesPerSec: 0 })),
      ],
      incoming: this.list().filter((t) => t.direction === 'incoming').map((t) => t.peer),
      peers: ctx.peers,
      reachable: ctx.reachable,
      neighbours: ctx.neighbours,
      lastRefreshAtMs: this.lastRefreshAtMs,
      ...(ctx.destinationTraffic ? { destinationTraffic: ctx.destinationTraffic } : {}),
      ...(ctx.destinationVia ? { destinationVia: ctx.destinationVia } : {}),
      policy: ctx.policy,
    };
    const plan = planTunnels(snapshot, nowMs, this.deps.rand);
    this.lastPlan = plan;
    // Refreshes of nodes that started together stay in step; a little jitter spreads their drains.
    if (plan.refreshed) this.lastRefreshAtMs = nowMs + (this.coordinatedDrains() ? (this.deps.rand() - 0.5) * 0.4 * ctx.policy.refreshIntervalMs : 0);
    const acted = plan.open.length + plan.drain.length + plan.close.length > 0;
    this.deps.log[acted ? 'info' : 'debug']({ reasons: plan.reasons }, 'tunnel plan');
    for (const a of plan.close) {
      const t = this.tunnels.get(a.peer);
      await this.close(a.peer, a.reason);
      if (t && t.direction === 'outgoing' && !t.everUp) this.recordFailure(a.peer, a.reason);
    }
    for (const a of plan.drain) {
      this.drain(a.peer, a.reason).catch((err: unknown) => this.deps.log.warn({ err, peer: a.peer }, 'drain failed'));
    }
    if (plan.refreshed) {
      for (const k of plan.kept) {
        if (!this.keptBusiest.has(k.peer)) this.deps.events.add('tunnel-selection', eventText.tunnelKeptBusiest(k.peer, k.bytesPerSec, k.score), k.peer);
      }
      this.keptBusiest = new Set(plan.kept.map((k) => k.peer));
    }
    const traffic = plan.trafficOpen;
    await Promise.all(
      plan.open.map(async (a) => {
        const opened = await this.open(a.peer, signal);
        if (opened && traffic?.peer === a.peer) this.deps.events.add('tunnel-selection', eventText.tunnelForTraffic(a.peer, traffic.bytesPerSec, traffic.via), a.peer);
      }),
    );
    return plan;
  }

  private servesNobody(nowMs: number): boolean {
    if (this.list().some((t) => t.direction === 'incoming')) return false;
    return this.tunnelRequestsSeen === 0 && nowMs - this.startedAtMs >= SERVES_NOBODY_AFTER_MS;
  }

  // ---- opening (client side) ---------------------------------------------

  /**
   * Opens an outgoing tunnel: asks the peer (at each known address in turn) for
   * a server end, then starts our client end. A failure is recorded against the
   * peer (backoff, then dead). Resolves once the attempt is settled, not when the
   * tunnel is up (that is watched by `checkTimeouts`).
   */
  async open(peer: string, signal: AbortSignal = this.abort.signal): Promise<boolean> {
    if (this.isAdjacent(peer) || peer === this.options.ownPrefix) return false;
    const record = this.deps.peers.getPeer(peer);
    const stored = record?.addresses ?? [];
    const addresses = this.deps.orderAddresses ? this.deps.orderAddresses(stored) : stored;
    if (addresses.length === 0) return false;
    this.opening.add(peer);
    try {
      let lastError = 'no address answered';
      let lastThrown: unknown;
      for (const text of addresses) {
        const address = parseHostPort(text);
        if (!address) continue;
        let reply: Incoming;
        try {
          reply = await this.deps.peerproto.request(
            { host: address.host, port: address.port, prefix: peer },
            { kind: 'tunnel-request', role: 'client', proto: 'udp' },
            { timeoutMs: this.options.requestTimeoutMs, attempts: this.options.requestAttempts, signal },
          );
        } catch (err) {
          if (signal.aborted) return false;
          lastThrown = err;
          lastError = (err as { code?: string }).code === 'RN_PEERPROTO_TIMEOUT' ? `no answer to tunnel-request at ${text}` : errorText(err);
          continue;
        }
        if (reply.msg.kind === 'tunnel-refuse') {
          if (reply.msg.reason === 'duplicate') return false; // the peer already has a tunnel with us: not a failure
          lastError = `tunnel refused: ${reply.msg.reason}`;
          lastThrown = undefined;
          break;
        }
        if (reply.msg.kind !== 'tunnel-accept') {
          lastError = `unexpected answer ${reply.msg.kind}`;
          continue;
        }
        if (this.tunnels.has(peer) || signal.aborted) return false; // the peer opened one towards us meanwhile
        this.startTunnel({
          peer,
          direction: 'outgoing',
          port: reply.msg.port,
          remote: formatHostPort(address.host, reply.msg.port),
          serial: reply.from.serial,
          end: { role: 'client', peer, ifName: this.deps.ifNameFor(peer), remote: { host: address.host, port: reply.msg.port } },
        });
        return true;
      }
      this.recordFailure(peer, lastError, lastThrown);
      return false;
    } finally {
      this.opening.delete(peer);
    }
  }

  // ---- accepting (server side) -------------------------------------------

  private async onTunnelRequest(ev: Incoming<MessageOf<'tunnel-request'>>): Promise<PeerMessage> {
    const peer = ev.from.prefix;
    this.tunnelRequestsSeen++;
    if (this.abort.signal.aborted) return { kind: 'tunnel-refuse', reason: 'error' };
    if (ev.msg.role !== 'client' || ev.msg.proto !== 'udp') return { kind: 'tunnel-refuse', reason: 'unsupported' };
    this.learnPeer(ev.from);
    this.deps.peers.recordProofOfLife?.(peer, 'asked us for a tunnel', this.deps.clock.nowMs());
    const existing = this.tunnels.get(peer);
    if (existing) {
      if (existing.direction === 'incoming') {
        // The peer asks again: its end was restarted or lost. Start afresh.
        await this.closeTunnel(existing, 'the peer asked for a new tunnel', { quiet: false });
      } else if (existing.state === 'up' || this.options.ownPrefix < peer) {
        return { kind: 'tunnel-refuse', reason: 'duplicate' };
      } else {
        // Both sides opened at once: the node with the lower prefix keeps its outgoing tunnel.
        await this.closeTunnel(existing, 'crossed with an incoming tunnel request', { quiet: true });
      }
    } else if (this.opening.has(peer) && this.options.ownPrefix < peer) {
      return { kind: 'tunnel-refuse', reason: 'duplicate' };
    }
    const incoming = this.list().filter((t) => t.direction === 'incoming').length;
    if (incoming >= this.options.maxClients) return { kind: 'tunnel-refuse', reason: 'full' };
    const port = await this.freeServerPort();
    if (port === undefined) return { kind: 'tunnel-refuse', reason: 'full' };
    if (this.tunnels.has(peer)) return { kind: 'tunnel-refuse', reason: 'duplicate' };
    this.startTunnel({
      peer,
      direction: 'incoming',
      port,
      remote: null,
      serial: ev.from.serial,
      end: { role: 'server', peer, ifName: this.deps.ifNameFor(peer), localPort: port },
    });
    return { kind: 'tunnel-accept', port };
  }

  private learnPeer(from: PeerSource): void {
    try {
      // Where the request came from first (it works through the peer's NAT for now), then what we knew.
      const known = this.deps.peers.getPeer(from.prefix)?.addresses ?? [];
      const addresses = [...new Set([formatHostPort(from.host, from.port), ...known])].slice(0, 8);
      this.deps.peers.upsertPeer({ prefix: from.prefix, addresses, source: 'peer', certSerial: from.serial }, this.deps.clock.nowMs());
    } catch (err) {
      this.deps.log.warn({ err, peer: from.prefix }, 'cannot record peer');
    }
  }

  private async freeServerPort(): Promise<number | undefined> {
    const used = new Set(this.list().filter((t) => t.direction === 'incoming').map((t) => t.port));
    const isFree = this.deps.isUdpPortFree ?? udpPortFree;
    for (let i = 1; i <= this.options.maxClients; i++) {
      const port = this.options.underlayPort + i;
      if (used.has(port)) continue;
      if (await isFree(port)) return port;
    }
    return undefined;
  }

  // ---- lifecycle of one tunnel -------------------------------------------

  private startTunnel(input: { peer: string; direction: TunnelDirection; port: number; remote: string | null; serial: string | null; end: TunnelEnd }): void {
    const nowMs = this.deps.clock.nowMs();
    const t: Tunnel = {
      peer: input.peer,
      direction: input.direction,
      ifName: input.end.ifName,
      childName: `openvpn ${input.direction === 'outgoing' ? 'to' : 'from'} ${input.peer}`,
      state: 'connecting',
      port: input.port,
      remote: input.remote,
      serial: input.serial,
      openedAtMs: nowMs,
      upSinceMs: null,
      downSinceMs: nowMs,
      everUp: false,
      rxBytesPerSec: 0,
      txBytesPerSec: 0,
      rx: undefined,
      tx: undefined,
      protected: false,
      score: null,
      drainStartedMs: null,
    };
    this.tunnels.set(t.peer, t);
    this.deps.log.info({ peer: t.peer, iface: t.ifName, direction: t.direction, port: t.port }, 'tunnel opening');
    this.deps.supervisor.start(
      { name: t.childName, argv: this.deps.openvpnArgv(input.end) },
      { onLine: (line) => this.onOpenvpnLine(t, line) },
    );
    this.babel(t, 'add', () => this.deps.babel.addInterface(t.ifName));
  }

  private onOpenvpnLine(t: Tunnel, line: string): void {
    if (this.tunnels.get(t.peer) !== t) return;
    this.deps.log.debug({ child: t.childName, iface: t.ifName, line }, 'openvpn');
    const peerMatch = PEER_LINE.exec(line);
    if (peerMatch && t.direction === 'incoming') t.remote = formatHostPort(peerMatch[1]!, Number(peerMatch[2]));
    if (UP_LINE.test(line)) return this.markUp(t);
    const restart = RESTART_LINE.exec(line);
    if (restart) this.markDown(t, restart[1]!.includes('remote-exit') ? 'the peer closed its end' : restart[1]!.includes('ping-restart') || restart[1]!.includes('Inactivity') ? 'no keepalive from the peer' : 'openvpn restarting');
  }

  private markUp(t: Tunnel): void {
    if (t.state === 'up') return;
    const nowMs = this.deps.clock.nowMs();
    if (t.state === 'connecting') t.state = 'up';
    t.upSinceMs = nowMs;
    t.downSinceMs = null;
    t.everUp = true;
    const result = this.deps.peers.recordSuccess(t.peer, nowMs);
    this.deps.events.add('link-established', eventText.linkEstablished(t.peer, t.remote ?? `port ${t.port}`), t.peer);
    if (result?.wasDead) this.deps.events.add('peer-alive', eventText.peerAlive(t.peer), t.peer);
    // The interface exists now: make sure babel runs on it (a restart of babeld may have lost it).
    this.babel(t, 'add', () => this.deps.babel.addInterface(t.ifName));
    this.deps.detours?.release(t.ifName);
  }

  private markDown(t: Tunnel, reason: string, options: { quiet?: boolean } = {}): void {
    if (t.state === 'connecting' && t.downSinceMs !== null) return;
    const wasUp = t.state === 'up' || (t.state === 'draining' && t.upSinceMs !== null);
    if (t.state === 'up') t.state = 'connecting';
    t.upSinceMs = null;
    t.downSinceMs = this.deps.clock.nowMs();
    if (wasUp && !options.quiet) this.deps.events.add('link-lost', eventText.linkLost(t.peer, reason), t.peer);
  }

  /** Link liveness (link-monitor.ts) lost the tunnel and said so: down, closed after lostTimeoutMs. */
  setLinkDown(peer: string, reason: string): void {
    const t = this.tunnels.get(peer);
    if (t) this.markDown(t, reason, { quiet: true });
  }

  /** Link liveness saw hellos again: up (no new "established" line; the monitor reported it). */
  setLinkUp(peer: string): void {
    const t = this.tunnels.get(peer);
    if (!t || !t.everUp || t.downSinceMs === null) return;
    if (t.state === 'connecting') t.state = 'up';
    t.upSinceMs = this.deps.clock.nowMs();
    t.downSinceMs = null;
  }

  private onSupervisorEvent(ev: SupervisorEvent): void {
    if (ev.kind !== 'child-exited' || ev.restartInMs === null) return;
    const t = this.list().find((x) => x.childName === ev.name);
    if (!t) return;
    const how = ev.spawnError ?? (ev.signal ? `killed by ${ev.signal}` : `exited with code ${ev.code}`);
    // Its interface is gone (or going): babel must stop routing over it now, not after missed hellos,
    // with detours for the gap, and the peer must do the same at once (it cannot see the exit).
    // The restarted openvpn's "Initialization Sequence Completed" adds it again (markUp).
    this.routeAround(t, `openvpn ${how}`, () => this.deps.babel.removeInterface(t.ifName));
    this.tellPeerDown(t.peer);
    this.markDown(t, `openvpn ${how}; restarting in ${(ev.restartInMs / 1000).toFixed(1)} s`);
  }

  /** Detours first (when there are any to make), then the babel change that withdraws the tunnel's routes. */
  private routeAround(t: Tunnel, reason: string, withdraw: () => Promise<void>): void {
    const detours = this.deps.detours;
    if (!detours) return this.babel(t, 'withdraw', withdraw);
    detours
      .cover(t.ifName, reason)
      .catch((err: unknown) => this.deps.log.warn({ err, iface: t.ifName }, 'detour routes failed'))
      .finally(() => this.babel(t, 'withdraw', withdraw));
  }

  /**
   * Tells the peer over the underlay that our end of the tunnel stopped, so it
   * routes around it now rather than after its own link-hello timeout.
   */
  tellPeerDown(peer: string): void {
    const t = this.tunnels.get(peer);
    const to = this.peerAddress(peer);
    if (!t || !to) return;
    this.deps.peerproto
      .send(to, { kind: 'drain', phase: 'down', tunnelPort: t.port, closeInMs: 0 })
      .catch((err: unknown) => this.deps.log.debug({ err, peer }, 'down notice not sent'));
  }

  /**
   * Housekeeping on every plan round: a tunnel that never came up, or stayed
   * down too long, is closed (a failed attempt when it was ours).
   */
  checkTimeouts(nowMs: number): void {
    for (const t of this.list()) {
      if (t.state === 'draining' || t.downSinceMs === null) continue;
      const downMs = nowMs - t.downSinceMs;
      if (!t.everUp && downMs >= this.options.connectTimeoutMs) {
        const reason = `tunnel did not come up within ${Math.round(this.options.connectTimeoutMs / 1000)} s`;
        void this.closeTunnel(t, reason, { quiet: true });
        if (t.direction === 'outgoing') this.recordFailure(t.peer, reason);
      } else if (t.everUp && downMs >= this.options.lostTimeoutMs) {
        const reason = `down for ${Math.round(downMs / 1000)} s`;
        void this.closeTunnel(t, reason, { quiet: false });
        if (t.direction === 'outgoing') this.recordFailure(t.peer, reason);
      }
    }
  }

  // ---- draining and closing ----------------------------------------------

  /**
   * Moves traffic off a tunnel before closing it: tells the peer, raises the
   * interface cost in babeld, waits until no route uses it (or the drain timeout),
   * then closes it. Resolves when closed.
   */
  async drain(peer: string, reason: string): Promise<void> {
    const t = this.tunnels.get(peer);
    if (!t || t.state === 'draining') return;
    // One drain at a time at a node (ours or one we follow): babel repairs one change at a
    // time best, and a peer never loses several links at once. The planner asks again later.
    if (this.coordinatedDrains() && this.list().some((x) => x !== t && x.state === 'draining')) {
      this.deps.log.info({ peer, iface: t.ifName, reason }, 'drain postponed: another tunnel is draining');
      return;
    }
    t.state = 'draining';
    t.drainStartedMs = this.deps.clock.nowMs();
    this.deps.log.info({ peer, iface: t.ifName, reason }, 'tunnel draining');
    const detours = this.deps.detours;
    if (detours) {
      // Babel withdraws our routes through the tunnel when its cost is raised: first wait until
      // every destination it carries has another way (the replacement may still be opening),
      // then detour our own traffic there, so nothing is dropped while babel moves.
      const readyBy = this.deps.clock.nowMs() + Math.min(this.options.drainTimeoutMs / 2, 10_000);
      while (this.tunnels.get(peer) === t && detours.uncovered(t.ifName).length > 0 && this.deps.clock.nowMs() < readyBy) {
        try {
          await this.deps.clock.sleep(250, { signal: this.abort.signal });
        } catch {
          return;
        }
      }
      if (this.tunnels.get(peer) !== t) return;
      await detours.cover(t.ifName, `drain: ${reason}`).catch((err: unknown) => this.deps.log.warn({ err, iface: t.ifName }, 'detour routes failed'));
    }
    t.drain = { ackAtMs: null, byPeer: false };
    const peerAddr = this.peerAddress(peer);
    if (peerAddr) {
      this.deps.peerproto
        .send(peerAddr, { kind: 'drain', phase: 'announce', tunnelPort: t.port, closeInMs: this.options.drainTimeoutMs })
        .catch((err: unknown) => this.deps.log.debug({ err, peer }, 'drain announce not sent'));
    }
    const clock = this.deps.clock;
    // The peer may refuse (other nodes drain their tunnels to it at the same moment): nothing has
    // changed yet, so giving up costs nothing.
    const objectionBy = clock.nowMs() + (this.options.drainObjectionMs ?? 0);
    while (this.tunnels.get(peer) === t && t.state === 'draining' && !t.drain?.refused && clock.nowMs() < objectionBy) {
      try {
        await clock.sleep(50, { signal: this.abort.signal });
      } catch {
        return;
      }
    }
    if (this.tunnels.get(peer) !== t || t.state !== 'draining') return;
    if (t.drain?.refused) {
      this.deps.log.info({ peer, iface: t.ifName }, 'drain refused by the peer; tunnel kept');
      t.state = t.upSinceMs !== null ? 'up' : 'connecting';
      t.drainStartedMs = null;
      delete t.drain;
      this.deps.detours?.release(t.ifName);
      return;
    }
    await this.babelAwait(t, () => this.deps.babel.raiseCost(t.ifName));
    const deadline = clock.nowMs() + this.options.drainTimeoutMs;
    const ours = (): boolean => this.tunnels.get(peer) === t && t.state === 'draining' && !t.drain?.refused;
    const pause = async (): Promise<boolean> => {
      try {
        await clock.sleep(250, { signal: this.abort.signal });
        return true;
      } catch {
        return false;
      }
    };
    // Our raised cost reaches the peer in our next IHU: its babel moves its routes off the tunnel
    // (the old routes keep working meanwhile), then it raises its own cost and acks. Only then
    // do our own routes through the tunnel get expensive (the flush above removed them only for
    // the moment babel needs to hear the peer again).
    const ackBy = Math.min(deadline, clock.nowMs() + (this.options.drainAckTimeoutMs ?? 0));
    while (ours() && t.drain?.ackAtMs === null && clock.nowMs() < ackBy) if (!(await pause())) return;
    const ackAtMs = t.drain?.ackAtMs ?? null;
    if (ackAtMs !== null) while (ours() && clock.nowMs() < Math.min(deadline, ackAtMs + (this.options.drainSettleMs ?? 0))) if (!(await pause())) return;
    while (ours() && (this.deps.babel.routeCount(t.ifName) > 0 || !this.routedAround(t)) && clock.nowMs() < deadline) if (!(await pause())) return;
    if (this.tunnels.get(peer) === t && t.state === 'draining' && t.drain?.refused) return this.cancelDrain(t, 'the peer refused late');
    if (!ours()) return;
    // Closing would cut the peer off (other drains may have taken its other links): keep the tunnel.
    if (!this.routedAround(t)) return this.cancelDrain(t, 'babel has no other route to the peer');
    await this.closeTunnel(t, reason, { quiet: false });
  }

  /** Drains with refusals and one at a time per node (drainObjectionMs set; off: each drain on its own). */
  private coordinatedDrains(): boolean {
    return (this.options.drainObjectionMs ?? 0) > 0;
  }

  /** Whether babel reaches the peer through another tunnel (unknown without routeVia: assumed). */
  private routedAround(t: Tunnel): boolean {
    if (!this.deps.babel.routeVia) return true;
    const via = this.deps.babel.routeVia(t.peer);
    return via !== null && via !== t.ifName;
  }

  /** Gives a drain of ours up: the tunnel carries traffic again, and the peer is told. */
  private async cancelDrain(t: Tunnel, why: string): Promise<void> {
    this.deps.log.info({ peer: t.peer, iface: t.ifName, why }, 'drain given up; tunnel kept');
    t.state = t.upSinceMs !== null ? 'up' : 'connecting';
    t.drainStartedMs = null;
    delete t.drain;
    const to = this.peerAddress(t.peer);
    if (to) this.deps.peerproto.send(to, { kind: 'drain', phase: 'cancel', tunnelPort: t.port, closeInMs: 0 }).catch((err: unknown) => this.deps.log.debug({ err, peer: t.peer }, 'drain cancel not sent'));
    if (this.deps.babel.restoreCost) await this.babelAwait(t, () => this.deps.babel.restoreCost!(t.ifName));
    this.deps.detours?.release(t.ifName);
  }

  private onDrainMessage(ev: Incoming<MessageOf<'drain'>>): void {
    const t = this.tunnels.get(ev.from.prefix);
    if (!t) return;
    const phase = ev.msg.phase;
    if (phase === 'down') {
      // The peer's end stopped (same tunnel: both ends name it by the server end's port).
      if (ev.msg.tunnelPort === t.port && t.state !== 'connecting') this.deps.onPeerDown?.(t.peer, "the peer's end stopped");
      return;
    }
    if (phase === 'ack') {
      if (t.state === 'draining' && t.drain && !t.drain.byPeer && t.drain.ackAtMs === null) t.drain.ackAtMs = this.deps.clock.nowMs();
      return;
    }
    if (phase === 'cancel') {
      if (t.state !== 'draining' || !t.drain) return;
      if (t.drain.byPeer) void this.stopFollowingDrain(t);
      else t.drain.refused = true; // our drain: the peer would be left with too few tunnels
      return;
    }
    if (t.state === 'draining') return;
    // Following would make a second drain at this node (several peers may drain theirs to us at
    // once, and together cut us off): refuse, and the peer keeps the tunnel for now.
    if (this.coordinatedDrains() && this.list().some((x) => x !== t && x.state === 'draining')) {
      this.deps.log.info({ peer: t.peer, iface: t.ifName }, 'drain refused: another tunnel here is draining');
      const to = this.peerAddress(t.peer);
      if (to) this.deps.peerproto.send(to, { kind: 'drain', phase: 'cancel', tunnelPort: t.port, closeInMs: 0 }).catch((err: unknown) => this.deps.log.debug({ err, peer: t.peer }, 'drain refusal not sent'));
      return;
    }
    // The peer is about to close this tunnel: move our routes off it too, and
    // close our end if the peer's end does not do it first.
    t.state = 'draining';
    t.drainStartedMs = this.deps.clock.nowMs();
    const waitMs = Math.min(Math.max(ev.msg.closeInMs, 0), 120_000) + 5_000;
    const cancel = this.deps.clock.setTimeout(() => {
      if (this.tunnels.get(t.peer) === t && t.state === 'draining') void this.closeTunnel(t, 'drained by the peer', { quiet: false });
    }, waitMs);
    t.drain = { ackAtMs: null, byPeer: true, cancelClose: cancel };
    this.abort.signal.addEventListener('abort', cancel, { once: true });
    void this.followPeerDrain(t, ev.msg.closeInMs);
  }

  /** The peer gave its drain up: the tunnel carries traffic again on our side too. */
  private async stopFollowingDrain(t: Tunnel): Promise<void> {
    t.drain?.cancelClose?.();
    delete t.drain;
    t.state = t.upSinceMs !== null ? 'up' : 'connecting';
    t.drainStartedMs = null;
    if (this.deps.babel.restoreCost) await this.babelAwait(t, () => this.deps.babel.restoreCost!(t.ifName));
    this.deps.detours?.release(t.ifName);
  }

  /**
   * Our side of a drain the peer started. The peer raised its cost, so our babel
   * moves our routes off the tunnel by itself (the old route keeps working
   * meanwhile: nothing is lost). Raising our cost too (flush + re-add, which
   * withdraws whatever still goes through it) waits until they moved, with
   * detours for our own traffic in case they did not.
   */
  private async followPeerDrain(t: Tunnel, closeInMs: number): Promise<void> {
    await this.deps.detours?.cover(t.ifName, 'the peer drains the tunnel').catch((err: unknown) => this.deps.log.warn({ err, iface: t.ifName }, 'detour routes failed'));
    const following = (): boolean => this.tunnels.get(t.peer) === t && t.state === 'draining' && t.drain?.byPeer === true;
    const raiseBy = this.deps.clock.nowMs() + Math.min(Math.max(closeInMs, 0) / 2, 10_000);
    while (following() && this.deps.babel.routeCount(t.ifName) > 0 && this.deps.clock.nowMs() < raiseBy) {
      try {
        await this.deps.clock.sleep(250, { signal: this.abort.signal });
      } catch {
        return;
      }
    }
    if (!following()) return;
    await this.babelAwait(t, () => this.deps.babel.raiseCost(t.ifName));
    // Tells the peer our routes left the tunnel and our cost is up: its own routes can move now.
    const to = this.peerAddress(t.peer);
    if (to && following()) {
      this.deps.peerproto.send(to, { kind: 'drain', phase: 'ack', tunnelPort: t.port, closeInMs: 0 }).catch((err: unknown) => this.deps.log.debug({ err, peer: t.peer }, 'drain ack not sent'));
    }
  }

  /** Closes at once (no drain): openvpn stopped, babel told. */
  async close(peer: string, reason: string): Promise<void> {
    const t = this.tunnels.get(peer);
    if (t) await this.closeTunnel(t, reason, { quiet: false });
  }

  private async closeTunnel(t: Tunnel, reason: string, options: { quiet: boolean }): Promise<void> {
    if (this.tunnels.get(t.peer) !== t) return;
    this.tunnels.delete(t.peer);
    this.deps.log.info({ peer: t.peer, iface: t.ifName, reason }, 'tunnel closing');
    if (!options.quiet && t.everUp) this.deps.events.add('link-closed', eventText.linkClosed(t.peer, reason), t.peer);
    await this.deps.supervisor.stop(t.childName);
    await this.babelAwait(t, () => this.deps.babel.removeInterface(t.ifName));
    this.deps.detours?.release(t.ifName);
  }

  /**
   * Revocation: tunnels to peers whose certificate serial is revoked are closed
   * now (no drain) and the peers marked dead.
   */
  async closeRevoked(revoked: ReadonlySet<string>): Promise<string[]> {
    const hit = this.list().filter((t) => {
      const serial = t.serial ?? this.deps.peers.getPeer(t.peer)?.certSerial ?? null;
      return serial !== null && revoked.has(serial);
    });
    const nowMs = this.deps.clock.nowMs();
    await Promise.all(
      hit.map(async (t) => {
        const serial = t.serial ?? '?';
        this.deps.peers.markDead(t.peer, `certificate ${serial} revoked`, nowMs);
        this.deps.events.add('revocation', eventText.peerRevoked(t.peer, serial), t.peer);
        await this.closeTunnel(t, `certificate ${serial} revoked`, { quiet: false });
      }),
    );
    return hit.map((t) => t.peer);
  }

  // ---- helpers -------------------------------------------------------------

  private recordFailure(peer: string, reason: string, error?: unknown): void {
    const result = this.deps.peers.recordFailure(peer, reason, this.deps.clock.nowMs(), error);
    this.deps.log.info({ peer, reason, failures: result?.failures }, 'tunnel attempt failed');
    if (result?.becameDead) {
      this.deps.events.add('peer-dead', `peer ${peer} marked dead: ${result.deadReason ?? reason}`, peer);
    }
  }

  private peerAddress(peer: string): PeerAddress | undefined {
    const text = this.deps.peers.getPeer(peer)?.addresses[0];
    const hp = text ? parseHostPort(text) : undefined;
    return hp ? { ...hp, prefix: peer } : undefined;
  }

  private babel(t: Tunnel, what: string, fn: () => Promise<void>): void {
    fn().catch((err: unknown) => this.deps.log.warn({ err, iface: t.ifName, peer: t.peer }, `babel ${what} failed`));
  }

  private async babelAwait(t: Tunnel, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.deps.log.warn({ err, iface: t.ifName, peer: t.peer }, 'babel request failed');
    }
  }
}

export function parseHostPort(text: string): { host: string; port: number } | undefined {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(text) ?? /^([0-9.]+):(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[2]);
  return port >= 1 && port <= 65535 ? { host: m[1]!, port } : undefined;
}

export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function errorText(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return e?.code ?? e?.message ?? String(err);
}

/** Binds and releases a UDP port on all addresses: free now? */
function udpPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket({ type: 'udp6', ipv6Only: false });
    s.once('error', () => {
      try {
        s.close();
      } catch {
        // never bound: nothing to close
      }
      resolve(false);
    });
    s.bind(port, '::', () => s.close(() => resolve(true)));
  });
}
