// The tunnel manager: carries out tunnel plans. It owns the live tunnels (one
// openvpn per tunnel end, supervised), opens them over the peer protocol
// (tunnel-request → port → openvpn pair), answers other nodes' requests,
// drains a tunnel through babel before closing it, and reports each link
// change as an event line. Which tunnels to keep is decided by the pure
// planner it is given; this file holds no selection policy.
import type { Incoming, PeerAddress, PeerSource } from '../peerproto/protocol.js';
import type { MessageOf, PeerMessage, WireNatClass } from '../../wire/messages.js';
import type { SupervisorEvent } from '../supervisor/supervisor.js';
import { eventText } from '../events.js';
import type { TunnelDirection, TunnelState, TunnelView } from '../control/protocol.js';
import { formatHostPort, parseHostPort } from '../sys/host-port.js';
import { answerTunnelRequest, chooseServerPort } from './accept.js';
import { drainAnnounced, drainOver, drainPauseMs, followDrain, startDrain, stepDrain, type DrainAction, type DrainObservations, type DrainState } from './drain.js';
import type { PlanContext, TunnelEnd, TunnelManagerDeps, TunnelManagerOptions } from './manager-deps.js';
import { directAttemptsToGiveUp, serverEndsToGiveUp } from './nat-learned.js';
import { parseOpenvpnLine } from './openvpn-lines.js';
import type { NatClass } from '../nat/classify.js';
import type { TunnelPuncher } from '../nat/punch-session.js';
import { localSendError } from '../peers/failure-blame.js';
import { planTunnels, type OutgoingState, type PlanPeer, type TunnelPlan, type TunnelSnapshot } from './plan.js';
import { tunnelScore, updateTrafficEwma, type TrafficEwma } from './score.js';
import { stopController } from '../sys/abort.js';

export type { PlanContext, TunnelBabel, TunnelDetours, TunnelEnd, TunnelManagerDeps, TunnelManagerOptions, TunnelPeerProto, TunnelPeerStore, TunnelSupervisor } from './manager-deps.js';
/** node.ts imports it from here; its one definition is in sys/host-port.ts. */
export { parseHostPort } from '../sys/host-port.js';

/** Tunnel requests of one plan round in flight at once. */
export const OPEN_PARALLEL = 4;

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
  /** Last step of a TLS handshake openvpn reported while the tunnel was never up (null: none). */
  handshakeAtMs: number | null;
  rxBytesPerSec: number;
  txBytesPerSec: number;
  rx: TrafficEwma | undefined;
  tx: TrafficEwma | undefined;
  protected: boolean;
  score: number | null;
  drainStartedMs: number | null;
  /** A punched tunnel's client end: the local UDP port its openvpn binds (its NAT mapping was learned from it). */
  localPort?: number;
  /** The event line when it comes up, when not the usual one (hole punching says both endpoints). */
  upText?: string;
  /** Opened by hole punching (either end). */
  punched: boolean;
  /** The drain in progress (drain.ts), with what the peer said about it. */
  drain?: { state: DrainState; ackAtMs: number | null; cancelled: boolean; wake?: () => void };
}

export class TunnelManager {
  private readonly tunnels = new Map<string, Tunnel>();
  /** Peers with an outgoing attempt in flight (before the tunnel exists). */
  private readonly opening = new Set<string>();
  /** Tunnels closing (their openvpn stopping, their interface leaving babel), by peer. */
  private readonly closing = new Map<string, Promise<void>>();
  /** Peers whose punch request we are serving (the exchange runs before the tunnel exists): not to be punched meanwhile. */
  private readonly servingPunch = new Set<string>();
  private readonly unsubscribe: Array<() => unknown> = [];
  private abort = stopController();
  private options: TunnelManagerOptions;
  private startedAtMs = 0;
  private tunnelRequestsSeen = 0;
  private lastRefreshAtMs: number | undefined;
  private lastPlan: TunnelPlan | undefined;
  /** Tunnels the last refresh kept as busiest: their event line is not repeated while they stay kept. */
  private keptBusiest = new Set<string>();
  /** Hole punching (daemon/nat/punch-session.ts), when the node runs it. */
  private puncher: TunnelPuncher | undefined;
  /** Ports of the tunnel range held by a punch exchange before openvpn binds them. */
  private readonly reservedPorts = new Set<number>();
  /**
   * Peers of unknown NAT class that accepted our tunnel-request, behind a NAT of ours, but whose
   * server end our client never reached: the request crossed the NATs, openvpn's packets did
   * not. The next attempt punches once (which also learns the peer's class); when that fails
   * too, the one after is an ordinary request again (the failure may have been load).
   */
  private readonly directFailed = new Set<string>();

  constructor(options: TunnelManagerOptions, private readonly deps: TunnelManagerDeps) {
    this.options = options;
  }

  start(): void {
    this.abort = stopController();
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

  setPuncher(puncher: TunnelPuncher): void {
    this.puncher = puncher;
  }

  /** A peer's NAT class as hole punching learned it (for "why not direct?"). */
  peerNatClass(peer: string): string | null {
    return this.puncher?.peerClass(peer) ?? null;
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
    return this.tunnels.has(peer) || this.opening.has(peer) || this.servingPunch.has(peer);
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
          state: plannerState(t),
          openedAtMs: t.openedAtMs,
          routeCount: this.deps.babel.routeCount(t.ifName),
          bytesPerSec: t.rxBytesPerSec + t.txBytesPerSec,
          lostForMs: lostForMs(t, nowMs),
        })),
        ...[...this.opening].filter((p) => !this.tunnels.has(p)).map((peer) => ({ peer, state: 'opening' as const, openedAtMs: nowMs, routeCount: 0, bytesPerSec: 0 })),
      ],
      incoming: [...this.list().filter((t) => t.direction === 'incoming').map((t) => t.peer), ...[...this.servingPunch].filter((p) => !this.tunnels.has(p))],
      peers: ctx.peers.map((p) => this.withNatView(p)),
      ...(this.puncher?.selfClass() ? { selfNatClass: this.puncher.selfClass()! } : {}),
      reachable: ctx.reachable,
      neighbours: ctx.neighbours,
      lastRefreshAtMs: this.lastRefreshAtMs,
      ...(ctx.lateMs !== undefined ? { lateMs: ctx.lateMs } : {}),
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
    // All at once up to OPEN_PARALLEL: a network whose nodes all start together would
    // otherwise spawn every openvpn end at the same moment on a few cores.
    await inParallel(plan.open, OPEN_PARALLEL, async (a) => {
      const opened = await this.open(a.peer, signal);
      if (opened && traffic?.peer === a.peer) this.deps.events.add('tunnel-selection', eventText.tunnelForTraffic(a.peer, traffic.bytesPerSec, traffic.via), a.peer);
    });
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
      const pairing = this.puncher?.pairing(peer) ?? 'unknown';
      // On a LAN we share with the peer no NAT lies between us: an ordinary request there,
      // whatever the classes say (only there, when they say punch or impossible).
      const sameLan = addresses.filter((a) => this.onSharedLan(a));
      if (sameLan.length === 0) {
        if (pairing === 'punch') return await this.openPunched(peer, signal);
        if (pairing === 'unknown' && this.directFailed.delete(peer) && this.puncher?.behindNat()) {
          this.deps.log.info({ peer }, 'our direct tunnel did not come up; trying hole punching');
          return await this.openPunched(peer, signal);
        }
      }
      let lastError = 'no address answered';
      let lastThrown: unknown;
      const overLanOnly = sameLan.length > 0 && (pairing === 'punch' || pairing === 'impossible');
      for (const text of overLanOnly ? sameLan : addresses) {
        const address = parseHostPort(text);
        if (!address) continue;
        let reply: Incoming;
        try {
          reply = await this.deps.peerproto.request(
            { host: address.host, port: address.port, prefix: peer },
            { kind: 'tunnel-request', role: 'client', proto: 'udp', ...this.ownClassItem() },
            { timeoutMs: this.options.requestTimeoutMs, attempts: this.options.requestAttempts, signal },
          );
        } catch (err) {
          if (signal.aborted) return false;
          // The peer's silence at one address outweighs this host's failure to send to another
          // (a private address we have no route to): the attempt is not blamed on this host.
          if (lastThrown === undefined || localSendError(err) === undefined || localSendError(lastThrown) !== undefined) {
            lastThrown = err;
            lastError = (err as { code?: string }).code === 'RN_PEERPROTO_TIMEOUT' ? `no answer to tunnel-request at ${text}` : errorText(err);
          }
          continue;
        }
        if (reply.msg.kind === 'tunnel-refuse') {
          if (reply.msg.natClass !== undefined) this.puncher?.learnClass?.(peer, reply.msg.natClass);
          if (reply.msg.reason === 'duplicate') return false; // the peer already has a tunnel with us: not a failure
          // Refused by class (the peer is behind a NAT too, accept.ts): punch now, or stop when nothing can work.
          const told = reply.msg.natClass !== undefined && reply.msg.reason === 'unsupported' ? this.puncher?.pairing(peer) : undefined;
          if (told === 'punch') {
            this.deps.log.info({ peer, natClass: reply.msg.natClass }, 'the peer is behind a NAT too; trying hole punching');
            return await this.openPunched(peer, signal);
          }
          if (told === 'impossible') {
            this.deps.log.info({ peer, natClass: reply.msg.natClass }, 'the peer is behind a NAT too, and no tunnel can work with it');
            return false;
          }
          lastError = `tunnel refused: ${reply.msg.reason}`;
          if (reply.msg.reason === 'full' && this.deps.peers.recordBusy) {
            const busy = this.deps.peers.recordBusy(peer, lastError, this.deps.clock.nowMs());
            this.deps.log.info({ peer, reason: lastError, retryInMs: busy ? busy.retryAtMs - this.deps.clock.nowMs() : null }, 'tunnel attempt refused: the peer is full');
            return false;
          }
          lastThrown = undefined;
          break;
        }
        if (reply.msg.kind !== 'tunnel-accept') {
          lastError = `unexpected answer ${reply.msg.kind}`;
          continue;
        }
        await this.closed(peer);
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
      // A peer of unknown class that took no request may be behind a NAT too: punching also learns its
      // class. Read the pairing again: a punch message may have told the class while we waited.
      if (lastThrown !== undefined && !signal.aborted) {
        const now = this.puncher?.pairing(peer) ?? 'unknown';
        if (now === 'impossible') {
          this.deps.log.info({ peer, reason: lastError }, 'no direct answer, and no tunnel can work with this peer (its NAT class was learned meanwhile)');
          return false;
        }
        if (now === 'punch' || (now === 'unknown' && this.puncher?.behindNat())) {
          this.deps.log.info({ peer, reason: lastError }, 'no direct answer; trying hole punching');
          return await this.openPunched(peer, signal);
        }
      }
      this.recordFailure(peer, lastError, lastThrown);
      return false;
    } finally {
      this.opening.delete(peer);
    }
  }

  /** Whether a "HOST:PORT" lies on a LAN we share (deps.onLocalSubnet). */
  private onSharedLan(address: string): boolean {
    const hp = parseHostPort(address);
    return hp !== undefined && this.deps.onLocalSubnet?.(hp.host) === true;
  }

  /** A plan peer with what hole punching knows of its class, and whether it shares a LAN with us. */
  private withNatView(p: PlanPeer): PlanPeer {
    const natClass = this.puncher?.peerClass(p.prefix);
    const sameLan = p.addresses.some((a) => this.onSharedLan(a));
    return natClass === undefined && !sameLan ? p : { ...p, ...(natClass !== undefined ? { natClass } : {}), ...(sameLan ? { sameLan } : {}) };
  }

  /** The client end of a punched tunnel: a port of our range, the exchange, then openvpn bound to that port. */
  private async openPunched(peer: string, signal: AbortSignal): Promise<boolean> {
    // The punch request travels over the overlay: with no route to the peer yet (at start, before
    // our first tunnel is up) it would fail at once and count against the peer. A later round punches.
    const reachable = this.deps.planContext().reachable;
    if (!reachable.includes(peer)) {
      this.deps.log.info({ peer }, 'hole punching waits: the overlay does not reach the peer yet');
      return false;
    }
    const localPort = await this.freeTunnelPort();
    if (localPort === undefined) {
      this.deps.log.info({ peer }, 'no free port in the tunnel range for a punched tunnel');
      return false;
    }
    this.reservedPorts.add(localPort);
    try {
      const r = await this.puncher!.punch(peer, localPort, signal);
      if (!r.ok) {
        if (!r.duplicate && !signal.aborted) this.recordFailure(peer, r.reason);
        return false;
      }
      await this.closed(peer);
      if (this.tunnels.has(peer) || signal.aborted) return false;
      this.startTunnel({
        peer,
        direction: 'outgoing',
        port: r.remote.port,
        remote: r.remoteText,
        serial: r.serial,
        localPort,
        punched: true,
        upText: eventText.linkPunched(peer, r.local, r.remoteText),
        end: { role: 'client', peer, ifName: this.deps.ifNameFor(peer), remote: r.remote, localPort },
      });
      return true;
    } finally {
      this.reservedPorts.delete(localPort);
    }
  }

  /** A port of the tunnel range that no tunnel end or punch exchange of ours holds and that binds now. */
  private freeTunnelPort(): Promise<number | undefined> {
    const used = new Set<number>(this.reservedPorts);
    for (const t of this.list()) used.add(t.direction === 'incoming' ? t.port : (t.localPort ?? -1));
    return chooseServerPort(this.options, used, this.deps.isUdpPortFree);
  }

  // ---- accepting (server side) -------------------------------------------

  private async onTunnelRequest(ev: Incoming<MessageOf<'tunnel-request'>>): Promise<PeerMessage> {
    this.tunnelRequestsSeen++;
    if (this.abort.signal.aborted) return { kind: 'tunnel-refuse', reason: 'error' };
    if (ev.msg.role !== 'client' || ev.msg.proto !== 'udp') return { kind: 'tunnel-refuse', reason: 'unsupported' };
    this.learnPeer(ev.from);
    if (ev.msg.natClass !== undefined) this.puncher?.learnClass?.(ev.from.prefix, ev.msg.natClass);
    const answer = await this.serve(ev.from);
    // A refusal names our class when we know it: a requester behind a NAT too then punches.
    return answer.kind === 'tunnel-refuse' ? { ...answer, ...this.ownClassItem() } : answer;
  }

  /** `{ natClass }` of ours for a tunnel-request or a refusal, when known. */
  private ownClassItem(): { natClass?: WireNatClass } {
    const self = this.puncher?.selfClass();
    return self && self !== 'unknown' ? { natClass: self } : {};
  }

  /** A punch request (punch-session.ts checked it): served like a tunnel-request, with the exchange run on the chosen port. */
  async servePunched(from: PeerSource, prepare: (port: number) => Promise<{ local: string; remote: string }>): Promise<PeerMessage> {
    this.tunnelRequestsSeen++;
    if (this.abort.signal.aborted) return { kind: 'tunnel-refuse', reason: 'error' };
    // It came over the overlay: its source address is no underlay address of the peer, so it is not learned.
    // Meanwhile we do not punch the peer ourselves: two exchanges crossing (each end a client and a
    // server at once) ended in a punched tunnel that never came up (lab, session 8).
    this.servingPunch.add(from.prefix);
    try {
      return await this.serve(from, prepare);
    } finally {
      this.servingPunch.delete(from.prefix);
    }
  }

  private async serve(from: PeerSource, prepare?: (port: number) => Promise<{ local: string; remote: string }>): Promise<PeerMessage> {
    const peer = from.prefix;
    this.deps.peers.recordProofOfLife?.(peer, 'asked us for a tunnel', this.deps.clock.nowMs());
    const existing = this.tunnels.get(peer);
    const incoming = this.list().filter((t) => t.direction === 'incoming');
    const answer = answerTunnelRequest({
      ownPrefix: this.options.ownPrefix,
      peer,
      ...(existing ? { existing: { direction: existing.direction, state: existing.state, punched: existing.punched } } : {}),
      punch: prepare !== undefined,
      overLan: prepare === undefined && this.deps.onLocalSubnet?.(from.host) === true,
      opening: this.opening.has(peer),
      incoming: incoming.length,
      maxClients: this.options.maxClients,
      selfClass: this.puncher?.selfClass(),
      peerClass: this.puncher?.peerClass(peer),
    });
    if (answer.kind === 'refuse') return { kind: 'tunnel-refuse', reason: answer.reason };
    if (existing && answer.replace) await this.closeTunnel(existing, answer.replace.reason, { quiet: answer.replace.quiet });
    const port = await this.freeTunnelPort();
    if (port === undefined) return { kind: 'tunnel-refuse', reason: 'full' };
    let punched: { local: string; remote: string } | undefined;
    if (prepare) {
      this.reservedPorts.add(port);
      try {
        punched = await prepare(port);
      } catch (err) {
        this.deps.log.info({ err, peer, port }, 'hole punch not prepared');
        return { kind: 'tunnel-refuse', reason: 'error' };
      } finally {
        this.reservedPorts.delete(port);
      }
    }
    await this.closed(peer);
    if (this.tunnels.has(peer)) return { kind: 'tunnel-refuse', reason: 'duplicate' };
    this.startTunnel({
      peer,
      direction: 'incoming',
      port,
      remote: null,
      serial: from.serial,
      punched: punched !== undefined,
      ...(punched ? { upText: eventText.linkPunched(peer, punched.local, punched.remote) } : {}),
      end: { role: 'server', peer, ifName: this.deps.ifNameFor(peer), localPort: port },
    });
    // Behind a UPnP router the peer may have to connect to another (external) port than ours.
    return punched ? { kind: 'punch-accept', endpoint: punched.local, natClass: 'eim' } : { kind: 'tunnel-accept', port: this.deps.tunnelPortFor?.(port, from) ?? port };
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
  // ---- lifecycle of one tunnel -------------------------------------------

  private startTunnel(input: { peer: string; direction: TunnelDirection; port: number; remote: string | null; serial: string | null; end: TunnelEnd; localPort?: number; punched?: boolean; upText?: string }): void {
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
      handshakeAtMs: null,
      rxBytesPerSec: 0,
      txBytesPerSec: 0,
      rx: undefined,
      tx: undefined,
      protected: false,
      score: null,
      drainStartedMs: null,
      punched: input.punched ?? false,
      ...(input.localPort !== undefined ? { localPort: input.localPort } : {}),
      ...(input.upText !== undefined ? { upText: input.upText } : {}),
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
    const ev = parseOpenvpnLine(line);
    if (ev?.kind === 'peer' && t.direction === 'incoming') t.remote = ev.remote;
    else if (ev?.kind === 'up') this.markUp(t);
    else if (ev?.kind === 'restart') this.markDown(t, ev.reason);
    else if (ev?.kind === 'progress' && !t.everUp) t.handshakeAtMs = this.deps.clock.nowMs();
  }

  private markUp(t: Tunnel): void {
    if (t.state === 'up') return;
    const nowMs = this.deps.clock.nowMs();
    if (t.state === 'connecting') t.state = 'up';
    t.upSinceMs = nowMs;
    t.downSinceMs = null;
    t.everUp = true;
    this.directFailed.delete(t.peer);
    const result = this.deps.peers.recordSuccess(t.peer, nowMs);
    this.deps.events.add('link-established', t.upText ?? eventText.linkEstablished(t.peer, t.remote ?? `port ${t.port}`), t.peer);
    if (result?.wasDead) this.deps.events.add('peer-alive', eventText.peerAlive(t.peer), t.peer);
    // The interface exists now: make sure babel runs on it (a restart of babeld may have lost it).
    // Greet the peer's babeld once ours runs the tunnel: the peer answers a wildcard request
    // once per hello interval, and an answer our babeld does not hear is lost.
    this.babel(t, 'add', async () => {
      try {
        await this.deps.babel.addInterface(t.ifName);
      } finally {
        if (this.tunnels.get(t.peer) === t && t.state === 'up') this.deps.requestRoutes?.(t.ifName, t.peer);
      }
    });
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
    // babel takes the link back as a new neighbour on both ends: greet the peer's babeld as for a new tunnel.
    this.deps.requestRoutes?.(t.ifName, t.peer);
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
    if (t) this.sendDrain(t, 'down', 0);
  }

  /**
   * Our NAT class changed (the NAT monitor). Behind a NAT without UPnP now: outgoing tunnels
   * asked for before we knew and that nothing came back through, to peers the overlay reaches
   * (a punch request travels over it), are closed, not counted as the peer's failure, and their
   * next attempt, soon, punches; server ends nobody reached are closed too, and the planning round
   * that follows opens our own tunnels instead (nat-learned.ts says which and why).
   */
  async selfNatClassChanged(natClass: NatClass): Promise<string[]> {
    const reachable = new Set(this.deps.planContext().reachable);
    const nowMs = this.deps.clock.nowMs();
    const ours = directAttemptsToGiveUp(natClass, this.list(), {
      natClass: (peer) => this.puncher?.peerClass(peer),
      onSharedLan: (remote) => this.onSharedLan(remote),
      reachable: (peer) => reachable.has(peer),
    });
    const served = serverEndsToGiveUp(natClass, this.list(), nowMs);
    const closing: Array<Promise<void>> = [];
    for (const peer of [...ours, ...served]) {
      const t = this.tunnels.get(peer);
      if (!t) continue;
      if (t.direction === 'outgoing') {
        this.deps.log.info({ peer, iface: t.ifName, natClass }, 'behind a NAT: our direct tunnel asked for before we knew is given up for hole punching');
        this.directFailed.add(peer);
        closing.push(this.closeTunnel(t, `this node is behind a NAT (${natClass}): hole punching instead`, { quiet: true }));
      } else {
        this.deps.log.info({ peer, iface: t.ifName, natClass }, 'behind a NAT: a server end nobody reached is given up; we open our own');
        closing.push(this.closeTunnel(t, `this node is behind a NAT (${natClass}): its server end is not reached`, { quiet: true }));
      }
    }
    // Closed first: a new tunnel with the peer takes the same interface name, which babel must not lose.
    await Promise.all(closing);
    if (closing.length > 0) this.deps.replanSoon?.();
    return [...ours, ...served];
  }

  /**
   * Housekeeping on every plan round: a tunnel that never came up, or stayed
   * down too long, is closed (a failed attempt when it was ours).
   */
  checkTimeouts(nowMs: number): void {
    for (const t of this.list()) {
      if (t.state === 'draining' || t.downSinceMs === null) continue;
      const downMs = nowMs - t.downSinceMs;
      if (!t.everUp && downMs >= this.options.connectTimeoutMs && !handshakeGoingOn(t, nowMs, this.options.connectTimeoutMs)) {
        const reason = `tunnel did not come up within ${Math.round(this.options.connectTimeoutMs / 1000)} s`;
        void this.closeTunnel(t, reason, { quiet: true });
        if (t.direction === 'outgoing' && !t.punched && this.puncher?.behindNat()) this.directFailed.add(t.peer);
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
   * Moves traffic off a tunnel before closing it (drain.ts has the steps).
   * Resolves when the drain is over: closed, kept, or the daemon stopping.
   */
  async drain(peer: string, reason: string): Promise<void> {
    const t = this.tunnels.get(peer);
    if (!t || t.state === 'draining') return;
    // One drain at a time at a node (ours or one we follow): babel repairs one change at a
    // time best, and a peer never loses several links at once. The planner asks again later.
    if (this.inAnotherDrain(t)) {
      this.deps.log.debug({ peer, iface: t.ifName, reason }, 'drain postponed: another tunnel is draining');
      return;
    }
    this.deps.log.info({ peer, iface: t.ifName, reason }, 'tunnel draining');
    const timing = {
      timeoutMs: this.options.drainTimeoutMs,
      ackTimeoutMs: this.options.drainAckTimeoutMs ?? 0,
      settleMs: this.options.drainSettleMs ?? 0,
      objectionMs: this.options.drainObjectionMs ?? 0,
    };
    await this.runDrain(t, startDrain(reason, timing, this.deps.detours !== undefined, this.deps.clock.nowMs()));
  }

  /** Drains with refusals and one at a time per node (drainObjectionMs set; off: each drain on its own). */
  private coordinatedDrains(): boolean {
    return (this.options.drainObjectionMs ?? 0) > 0;
  }

  private inAnotherDrain(t: Tunnel): boolean {
    return this.coordinatedDrains() && this.list().some((x) => x !== t && x.state === 'draining');
  }

  /** The executor of drain.ts: observe, step, carry the actions out in order; pause when there were none. */
  private async runDrain(t: Tunnel, initial: DrainState): Promise<void> {
    t.state = 'draining';
    t.drainStartedMs = this.deps.clock.nowMs();
    t.drain = { state: initial, ackAtMs: null, cancelled: false };
    let state = initial;
    while (!drainOver(state)) {
      if (this.tunnels.get(t.peer) !== t || t.drain?.state !== state) return; // closed, or replaced meanwhile
      const step = stepDrain(state, this.observeDrain(t), this.deps.clock.nowMs());
      if (step.state.phase !== state.phase) this.deps.log.info({ peer: t.peer, iface: t.ifName, phase: step.state.phase }, 'drain step');
      state = step.state;
      t.drain.state = state;
      for (const action of step.actions) await this.drainAction(t, state, action);
      if (step.actions.length > 0) continue;
      await this.drainPause(t.drain, drainPauseMs(state));
      if (this.abort.signal.aborted) return; // the daemon is stopping: stop() closes the tunnel
    }
  }

  /** A pause between steps; it ends early when the peer's ack or cancel arrives, or the daemon stops. */
  private async drainPause(drain: NonNullable<Tunnel['drain']>, ms: number): Promise<void> {
    const wake = new AbortController();
    const stop = (): void => wake.abort();
    drain.wake = stop;
    this.abort.signal.addEventListener('abort', stop, { once: true });
    await this.deps.clock.sleep(ms, { signal: wake.signal }).catch(() => undefined);
    this.abort.signal.removeEventListener('abort', stop);
    delete drain.wake;
  }

  private observeDrain(t: Tunnel): DrainObservations {
    return {
      uncovered: this.deps.detours?.uncovered(t.ifName).length ?? 0,
      routeCount: this.deps.babel.routeCount(t.ifName),
      routedAround: this.routedAround(t),
      ackAtMs: t.drain?.ackAtMs ?? null,
      cancelled: t.drain?.cancelled ?? false,
      linkDown: t.downSinceMs !== null,
    };
  }

  private async drainAction(t: Tunnel, state: DrainState, action: DrainAction): Promise<void> {
    switch (action.kind) {
      case 'cover': {
        const why = state.role === 'ours' ? `drain: ${state.reason}` : 'the peer drains the tunnel';
        await this.deps.detours?.cover(t.ifName, why).catch((err: unknown) => this.deps.log.warn({ err, iface: t.ifName }, 'detour routes failed'));
        return;
      }
      case 'announce':
        return this.sendDrain(t, 'announce', action.closeInMs);
      case 'send':
        return this.sendDrain(t, action.phase, 0);
      case 'raise-cost':
        return this.babelAwait(t, () => this.deps.babel.raiseCost(t.ifName));
      case 'restore-cost':
        if (this.deps.babel.restoreCost) await this.babelAwait(t, () => this.deps.babel.restoreCost!(t.ifName));
        return;
      case 'release-detours':
        return this.deps.detours?.release(t.ifName);
      case 'keep':
        this.deps.log.info({ peer: t.peer, iface: t.ifName, why: action.why }, 'drain given up; tunnel kept');
        t.state = t.upSinceMs !== null ? 'up' : 'connecting';
        t.drainStartedMs = null;
        delete t.drain;
        return;
      case 'close':
        return this.closeTunnel(t, action.reason, { quiet: false });
    }
  }

  private sendDrain(t: Tunnel, phase: 'announce' | 'ack' | 'cancel' | 'down', closeInMs: number): void {
    const to = this.peerAddress(t.peer);
    if (!to) return;
    this.deps.peerproto.send(to, { kind: 'drain', phase, tunnelPort: t.port, closeInMs }).catch((err: unknown) => this.deps.log.debug({ err, peer: t.peer, phase }, 'drain message not sent'));
  }

  /** Whether babel reaches the peer through another tunnel (unknown without routeVia: assumed). */
  private routedAround(t: Tunnel): boolean {
    if (!this.deps.babel.routeVia) return true;
    const via = this.deps.babel.routeVia(t.peer);
    return via !== null && via !== t.ifName;
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
      if (t.drain?.state.role === 'ours' && drainAnnounced(t.drain.state) && t.drain.ackAtMs === null) {
        t.drain.ackAtMs = this.deps.clock.nowMs();
        t.drain.wake?.();
      }
      return;
    }
    if (phase === 'cancel') {
      // Ours: the peer refuses (it would be left with too few tunnels). The peer's: given up.
      if (t.drain && drainAnnounced(t.drain.state)) {
        t.drain.cancelled = true;
        t.drain.wake?.();
      }
      return;
    }
    if (t.state === 'draining') return;
    // Following would make a second drain at this node (several peers may drain theirs to us at
    // once, and together cut us off): refuse, and the peer keeps the tunnel for now.
    if (this.inAnotherDrain(t)) {
      this.deps.log.info({ peer: t.peer, iface: t.ifName }, 'drain refused: another tunnel here is draining');
      return this.sendDrain(t, 'cancel', 0);
    }
    // The peer is about to close this tunnel: move our routes off it too, and
    // close our end if the peer's end does not do it first.
    this.deps.log.info({ peer: t.peer, iface: t.ifName, closeInMs: ev.msg.closeInMs }, 'following the peer\'s drain');
    void this.runDrain(t, followDrain(ev.msg.closeInMs, this.deps.detours !== undefined, this.deps.clock.nowMs()));
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
    const done = (async () => {
      await this.deps.supervisor.stop(t.childName);
      await this.babelAwait(t, () => this.deps.babel.removeInterface(t.ifName));
      this.deps.detours?.release(t.ifName);
    })();
    this.closing.set(t.peer, done);
    try {
      await done;
    } finally {
      if (this.closing.get(t.peer) === done) this.closing.delete(t.peer);
    }
  }

  /**
   * Resolves once a tunnel with the peer that is closing is gone: a new one takes the same child
   * and interface names (the supervisor refuses a second child of one name, and babel must not
   * drop the new interface when the old one's removal lands late).
   */
  private async closed(peer: string): Promise<void> {
    await this.closing.get(peer);
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
    if (result?.becameDead) this.deps.events.add('peer-dead', eventText.peerDead(peer, result.failures, reason), peer);
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

/** Runs `fn` over `items`, at most `width` at a time, in order of the items; resolves when all are done. */
export async function inParallel<T>(items: readonly T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, lane));
}

function errorText(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return e?.code ?? e?.message ?? String(err);
}

/** How long a tunnel that was up has been down (link lost, openvpn restarting); 0 while up or never up. */
export function lostForMs(t: Pick<Tunnel, 'state' | 'everUp' | 'downSinceMs'>, nowMs: number): number {
  if (t.state === 'draining' || !t.everUp || t.downSinceMs === null) return 0;
  return Math.max(0, nowMs - t.downSinceMs);
}

/**
 * How the planner sees an outgoing tunnel. One that was up and is down now (link lost, openvpn
 * restarting) stays "up": the lost-link timeout and liveness restarts deal with it, whereas an
 * "opening" tunnel older than the open time-out would be closed at once as never established.
 */
export function plannerState(t: Pick<Tunnel, 'state' | 'everUp'>): OutgoingState {
  if (t.state === 'draining') return 'draining';
  return t.state === 'up' || t.everUp ? 'up' : 'opening';
}

/**
 * A TLS handshake still moving (a step within the last HANDSHAKE_QUIET_MS) on a starved host
 * is slow, not failed: the tunnel gets up to 3 × the connect time-out instead of being closed
 * and tried again (a new handshake costs the same CPU again).
 */
function handshakeGoingOn(t: Tunnel, nowMs: number, connectTimeoutMs: number): boolean {
  return t.handshakeAtMs !== null && nowMs - t.handshakeAtMs < HANDSHAKE_QUIET_MS && nowMs - t.openedAtMs < 3 * connectTimeoutMs;
}

const HANDSHAKE_QUIET_MS = 15_000;
