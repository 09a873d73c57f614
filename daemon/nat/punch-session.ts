// Hole punching, the exchange (punch.ts has the rules). Client end A: STUN from
// the local port its openvpn will bind, then a punch-request over the overlay
// (B is reached through other tunnels) carrying that public endpoint. Server
// end B: STUN from the port its openvpn will listen on, a few datagrams from it
// to A's endpoint (they open B's NAT for A), then punch-accept with its own
// public endpoint; the tunnel manager starts both openvpn ends. Sockets, STUN
// and the peer protocol are injected, so the exchange runs on fakes in tests.
import type { Incoming, PeerAddress } from '../peerproto/protocol.js';
import type { MessageOf, PeerMessage, WireNatClass } from '../../wire/messages.js';
import { parseV4Endpoint } from '../sys/host-port.js';
import type { NatClass } from './classify.js';
import { PeerNatClasses } from './peer-classes.js';
import { pairing, punchRequestProblem, punchTimedOutText, PUNCH_TIMEOUT_MS, type Pairing } from './punch.js';

/** Datagrams B sends towards A's endpoint; more than one, in case the first is lost on a loaded host. */
export const PUNCH_BURST = 3;

export interface PunchClock {
  nowMs(): number;
  setTimeout(fn: () => void, ms: number): () => void;
}

export interface PunchDeps {
  clock: PunchClock;
  log: { info(obj: object, msg: string): void; debug(obj: object, msg: string): void };
  /** This node's NAT class now (daemon/nat NatMonitor), null while unknown. */
  selfClass: () => NatClass | null;
  /** Where the peer answers over the overlay (its node address, peer-protocol port). */
  overlayAddress: (peer: string) => PeerAddress;
  request: (to: PeerAddress, msg: PeerMessage, options: { timeoutMs: number; attempts?: number; signal?: AbortSignal }) => Promise<Incoming>;
  /** Our public "IP:PORT" for a local UDP port, by STUN sent from that port (throws with what went wrong). */
  mappedEndpoint: (localPort: number, signal?: AbortSignal) => Promise<string>;
  /** Sends `count` small datagrams from the local port to "IP:PORT", then releases the port. */
  sendFrom: (localPort: number, to: string, count: number) => Promise<void>;
  /** Peers' classes, shared with whoever else learns them (the registry's bootstrap answers); a new record when absent. */
  classes?: PeerNatClasses;
}

export type PunchResult =
  | { ok: true; local: string; remote: { host: string; port: number }; remoteText: string; serial: string }
  | { ok: false; reason: string; peerClass?: NatClass; duplicate?: boolean };

/** What the tunnel manager asks of hole punching (manager.setPuncher). */
export interface TunnelPuncher {
  /** How to open a tunnel to the peer, from both classes as known now. */
  pairing(peer: string): Pairing;
  /**
   * Whether a punch request is worth sending to a peer of unknown class that took no
   * tunnel-request: behind a NAT, it either punches (eim) or learns the peer's class
   * from the refusal (so the planner stops trying a pair that cannot work).
   */
  behindNat(): boolean;
  selfClass(): NatClass | null;
  peerClass(peer: string): NatClass | undefined;
  /** The peer stated its class in a tunnel-request or a refusal of ours. */
  learnClass?(peer: string, natClass: WireNatClass): void;
  /** Client side: the whole exchange for a tunnel whose openvpn will bind `localPort`. */
  punch(peer: string, localPort: number, signal: AbortSignal): Promise<PunchResult>;
}

/** What the server side needs of the tunnel manager: a port, the exchange, then the openvpn end. */
export interface PunchServer {
  /**
   * Takes the request like a tunnel-request (duplicates, a full node), picks the
   * port, runs `prepare` on it before openvpn binds it, starts the server end and
   * answers punch-accept with `local`, or tunnel-refuse.
   */
  servePunched(from: Incoming['from'], prepare: (port: number) => Promise<{ local: string; remote: string }>): Promise<PeerMessage>;
}

export class Puncher implements TunnelPuncher {
  /** Peers' NAT classes: what they told us in punch messages, and the registry's word. */
  private readonly classes: PeerNatClasses;

  constructor(
    private readonly deps: PunchDeps,
    private readonly timeoutMs: number = PUNCH_TIMEOUT_MS,
  ) {
    this.classes = deps.classes ?? new PeerNatClasses();
  }

  behindNat(): boolean {
    const self = this.deps.selfClass();
    return self === 'eim' || self === 'apdm';
  }

  selfClass(): NatClass | null {
    return this.deps.selfClass();
  }

  peerClass(peer: string): NatClass | undefined {
    return this.classes.get(peer);
  }

  learnClass(peer: string, natClass: WireNatClass): void {
    this.learn(peer, natClass);
  }

  pairing(peer: string): Pairing {
    return pairing(this.deps.selfClass(), this.classes.get(peer));
  }

  /** Answers punch requests through the manager (node wiring). */
  listen(peerproto: { setHandler(kind: 'punch-request', h: (ev: Incoming<MessageOf<'punch-request'>>) => Promise<PeerMessage>): void }, server: PunchServer): void {
    peerproto.setHandler('punch-request', (ev) => this.answer(ev, server));
  }

  async punch(peer: string, localPort: number, signal: AbortSignal): Promise<PunchResult> {
    const self = this.deps.selfClass();
    // From behind an apdm NAT the request cannot lead to a tunnel, but its refusal tells the peer's class.
    if (self !== 'eim' && self !== 'apdm') return { ok: false, reason: `this node is ${self ?? 'of unknown NAT class'}: no hole punching` };
    const deadline = new AbortController();
    const cancel = this.deps.clock.setTimeout(() => deadline.abort(new Error('punch deadline')), this.timeoutMs);
    const both = AbortSignal.any([signal, deadline.signal]);
    const startedMs = this.deps.clock.nowMs();
    this.deps.log.info({ peer, localPort }, 'hole punch requested');
    try {
      const local = await this.deps.mappedEndpoint(localPort, both);
      const left = this.timeoutMs - (this.deps.clock.nowMs() - startedMs);
      const reply = await this.deps.request(
        this.deps.overlayAddress(peer),
        { kind: 'punch-request', endpoint: local, natClass: self },
        // Retries carry the same request id: the peer answers them from its reply cache, it does not punch twice.
        { timeoutMs: Math.max(1000, Math.floor(left / 3)), attempts: 3, signal: both },
      );
      const result = this.outcome(peer, local, reply);
      this.deps.log.info({ peer, localPort, tookMs: this.deps.clock.nowMs() - startedMs, ...(result.ok ? { local, remote: result.remoteText } : { reason: result.reason }) }, 'hole punch answered');
      return result;
    } catch (err) {
      if (signal.aborted) return { ok: false, reason: 'stopped' };
      const code = (err as { code?: string }).code;
      if (deadline.signal.aborted || code === 'RN_PEERPROTO_TIMEOUT') return { ok: false, reason: punchTimedOutText(this.timeoutMs) };
      return { ok: false, reason: `hole punch failed: ${(err as Error).message}` };
    } finally {
      cancel();
    }
  }

  private outcome(peer: string, local: string, reply: Incoming): PunchResult {
    const m = reply.msg;
    if (m.kind === 'punch-accept') {
      this.learn(peer, m.natClass);
      const remote = parseV4Endpoint(m.endpoint);
      if (remote === undefined) return { ok: false, reason: `the peer answered with an unusable endpoint ${m.endpoint}` };
      return { ok: true, local, remote, remoteText: m.endpoint, serial: reply.from.serial };
    }
    if (m.kind === 'tunnel-refuse') {
      if (m.natClass !== undefined) this.learn(peer, m.natClass);
      const result: PunchResult = { ok: false, reason: `hole punch refused: ${m.reason}${m.natClass ? ` (the peer is ${m.natClass})` : ''}` };
      if (m.natClass !== undefined) result.peerClass = m.natClass;
      if (m.reason === 'duplicate') result.duplicate = true;
      return result;
    }
    return { ok: false, reason: `unexpected answer ${m.kind} to a punch request` };
  }

  /** Server side: refuse cheaply (before any socket or STUN) what cannot work. */
  async answer(ev: Incoming<MessageOf<'punch-request'>>, server: PunchServer): Promise<PeerMessage> {
    this.learn(ev.from.prefix, ev.msg.natClass);
    const self = this.deps.selfClass();
    const problem = punchRequestProblem(ev.msg, self);
    if (problem !== undefined) {
      this.deps.log.info({ peer: ev.from.prefix, endpoint: ev.msg.endpoint, problem }, 'punch request refused');
      return { kind: 'tunnel-refuse', reason: 'unsupported', natClass: wireClass(self) };
    }
    const reply = await server.servePunched(ev.from, async (port) => {
      const local = await this.deps.mappedEndpoint(port);
      await this.deps.sendFrom(port, ev.msg.endpoint, PUNCH_BURST);
      return { local, remote: ev.msg.endpoint };
    });
    return reply.kind === 'tunnel-refuse' ? { ...reply, natClass: wireClass(self) } : reply;
  }

  private learn(peer: string, c: WireNatClass): void {
    this.classes.fromPeer(peer, c, this.deps.clock.nowMs());
  }
}

function wireClass(c: NatClass | null): WireNatClass {
  return c ?? 'unknown';
}
