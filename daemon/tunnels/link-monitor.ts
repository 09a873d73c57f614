// Runs link liveness (liveness.ts) for every tunnel: sends a peer-protocol
// hello to the peer's link-local address on the tunnel interface every
// helloIntervalMs, takes every authenticated frame from the peer arriving the
// same way as a sign of life, and acts: lost → babel forgets the interface at
// once (its routes go now, traffic moves to another path) and the manager
// counts the tunnel as down; restored → babel runs on it again; lost for long →
// our openvpn end is restarted. Its own timer is also its measure of this
// host's starvation: how late each tick fires (or, when more, what the host's
// CPU pressure stands for: pressuredLateMs) widens every deadline, the hellos
// tell the peers, and hellos go out less often while a link's ends run late
// (helloEveryMs). With beats (hello-kind.ts, link-beats.ts) a link that is alive
// on both sides carries bare beats instead of most hellos, and the peer's packets
// are counted, not read: the interface's rx counter rising is its sign of life.
// A link still silent one interval before its deadline gets a probe (a signed
// hello the peer answers at once): only a link silent to it too is lost.
import type { Logger } from 'pino';
import type { HelloMessage } from '../../wire/messages.js';
import type { EventLog } from '../events.js';
import { eventText } from '../events.js';
import { linkLocalFor } from '../identity.js';
import type { Incoming, PeerAddress } from '../peerproto/protocol.js';
import type { Clock } from '../sys/clock.js';
import type { CpuPressureSource } from '../sys/cpu-pressure.js';
import { answersSignedHello, linkHelloKind, type LinkHelloFacts } from './hello-kind.js';
import type { LinkBeatSender } from './link-beats.js';
import {
  checkLinkLiveness,
  declareLost,
  excuseSilence,
  helloEveryMs,
  livenessPolicy,
  lostReason,
  newLinkLiveness,
  nextLivenessDeadlineMs,
  noteLateness,
  pressuredLateMs,
  NO_LATENESS,
  onLinkPacket,
  probeDueMs,
  recentLateMs,
  type Lateness,
  type LinkLiveness,
  type LivenessAction,
  type LivenessPolicy,
  type LivenessStep,
} from './liveness.js';

/** What the monitor needs to know of a tunnel (manager.ts Tunnel has these). */
export interface MonitoredTunnel {
  peer: string;
  ifName: string;
  childName: string;
  openedAtMs: number;
  /** Liveness starts once the tunnel came up the first time. */
  everUp: boolean;
  /** Ours is the client end (outgoing) or the server end (incoming); absent: treated as a client end. */
  direction?: 'outgoing' | 'incoming';
  /** Set while the tunnel is known down (its openvpn end exited or the peer closed its end): the loss was told already. */
  downSinceMs?: number | null;
}

export interface LinkMonitorDeps {
  clock: Clock;
  log: Pick<Logger, 'debug' | 'info' | 'warn'>;
  events: Pick<EventLog, 'add'>;
  peerproto: {
    send(to: PeerAddress, msg: HelloMessage, options?: { withCert?: boolean }): Promise<void>;
    on(event: 'authenticated', listener: (ev: Incoming) => unknown): () => void;
    /** True when the peer holds our certificate and takes link MACs (no certificate needed in our hellos). */
    hasLinkKey?(prefix: string): boolean;
  };
  tunnels: () => readonly MonitoredTunnel[];
  babel: { suspendInterface(ifName: string): Promise<void>; resumeInterface(ifName: string): Promise<void> };
  manager: { setLinkDown(peer: string, reason: string): void; setLinkUp(peer: string): void };
  /** Detour routes for the moment babel withdraws a lost link's routes (none: babel alone). */
  detours?: { cover(ifName: string, reason: string): Promise<unknown>; release(ifName: string): void };
  supervisor: { restart(name: string): Promise<void> };
  /** Read at every tick so a reload applies: hello interval (0 = liveness off), misses, beats (absent: on when wired). */
  settings: () => { helloIntervalSec: number; misses: number; beats?: boolean };
  /** The peer's peer-protocol port when no hello told us yet. */
  defaultPeerPort: (peer: string) => number;
  /** The host's lateness meter (sys/lateness.ts) hears how late each tick fired: its own timer can then tick slowly. */
  lateness?: { noteTick(lateMs: number, atMs?: number): void };
  /** The host's CPU pressure (sys/cpu-pressure.ts): a saturated host counts as late (pressuredLateMs). */
  pressure?: CpuPressureSource;
  /**
   * Link beats: both set, or neither (hellos only). `counters` reads every interface's packet
   * counters at once (undefined: could not), `beats` sends the bare datagrams.
   */
  beats?: LinkBeatSender;
  counters?: () => ReadonlyMap<string, { rxPackets: number; txPackets: number }> | undefined;
}

interface Tracked {
  tunnel: MonitoredTunnel;
  liveness: LinkLiveness;
  sent: number;
  /** When our next hello on this link is due, and the interval it was set with. */
  nextSendMs: number;
  everyMs: number;
  /** The peer's link-local address on the tunnel ("fe80::…%rn…"), worked out once. */
  linkHost: string;
  /** The peer's hellos said it counts packets over the tunnel: beats will do. */
  peerTakesBeats: boolean;
  /** The lastHeardMs of the silence our last probe asked about (one probe per silence). */
  probedSilenceOf: number | null;
  /** When our last signed hello went out on this link (-Infinity: none yet). */
  lastSignedMs: number;
  /** The interface's counters at the last tick, and our beats not yet seen in the tx counter. */
  rxPackets?: number;
  txPackets?: number;
  beatsSince: number;
  /** Something besides our beats left on the tunnel since our last hello or beat. */
  otherTraffic: boolean;
  /** The lateness our last signed hello told the peer: its copy fades as ours does. */
  toldLate: Lateness;
}

/**
 * Every this many link hellos carry our certificate (the peer may not have it
 * cached, e.g. after a restart), unless the peer told us it holds it: then the
 * peer protocol adds it by itself when the peer says it lost it.
 */
const CERT_EVERY = 4;

export interface LinkView {
  peer: string;
  ifName: string;
  phase: LinkLiveness['phase'];
  /** Last time anything came from the peer over the tunnel. */
  lastHeardMs: number | null;
  lostSinceMs: number | null;
  /** lost → restored transitions of this tunnel. */
  flaps: number;
  /** How often we send hellos on it now; null before the first. */
  helloEveryMs: number | null;
  /** True while that is longer than the interval: this host or the peer runs late. */
  helloSlowed: boolean;
  /** Beats go to the peer instead of most hellos (it takes them, and ours are on). */
  beats: boolean;
}

/** The largest lateness a hello can carry (u32 on the wire). */
const MAX_REPORTED_LATE_MS = 0xffff_ffff;

export class LinkMonitor {
  private readonly tracked = new Map<string, Tracked>();
  /** Peer-protocol port of each peer, from the hellos it sent. */
  private readonly ports = new Map<string, number>();
  /** Interfaces this host has set down on purpose for now (babel cost changes). */
  private readonly silenced = new Set<string>();
  private cancelTimer: (() => void) | undefined;
  /** When the armed tick is due: how late it fires is how starved this host is. */
  private tickDueMs = 0;
  /** This host's timer lateness, as the ticks measured it. */
  private late: Lateness = NO_LATENESS;
  private unsubscribe: (() => unknown) | undefined;
  private running = false;
  /** Beats are on and the last tick read the counters: our hellos say we take beats. */
  private beatsOn = false;

  constructor(private readonly deps: LinkMonitorDeps) {}

  start(): void {
    this.running = true;
    this.unsubscribe = this.deps.peerproto.on('authenticated', (ev) => this.onPacket(ev));
    this.schedule(0);
  }

  stop(): void {
    this.running = false;
    this.cancelTimer?.();
    this.unsubscribe?.();
    this.deps.beats?.close();
  }

  /** The peer's peer-protocol port as its hellos showed it. */
  peerPort(peer: string): number {
    return this.ports.get(peer) ?? this.deps.defaultPeerPort(peer);
  }

  views(): LinkView[] {
    const baseMs = this.policy()?.helloIntervalMs ?? Infinity;
    return [...this.tracked.values()].map((t) => ({
      peer: t.tunnel.peer,
      ifName: t.tunnel.ifName,
      phase: t.liveness.phase,
      lastHeardMs: t.liveness.lastHeardMs,
      lostSinceMs: t.liveness.lostSinceMs,
      flaps: t.liveness.flaps,
      helloEveryMs: t.everyMs > 0 ? t.everyMs : null,
      helloSlowed: t.everyMs > baseMs,
      beats: this.beatsOn && t.peerTakesBeats,
    }));
  }

  /** How often the tunnel to `peer` was lost and restored (undefined: not watched). */
  /**
   * This host takes the tunnel's link down on purpose (`on`) and back up (`off`): its silence
   * in between is not the peer's, so no verdict is made on it and the deadline restarts after.
   */
  plannedSilence(ifName: string, on: boolean): void {
    if (on) this.silenced.add(ifName);
    else this.silenced.delete(ifName);
    const nowMs = this.deps.clock.nowMs();
    for (const t of this.tracked.values()) if (t.tunnel.ifName === ifName) t.liveness = excuseSilence(t.liveness, nowMs);
  }

  flaps(peer: string): number | undefined {
    return this.tracked.get(peer)?.liveness.flaps;
  }

  private policy(): LivenessPolicy | undefined {
    const s = this.deps.settings();
    return s.helloIntervalSec > 0 ? livenessPolicy(s.helloIntervalSec, s.misses) : undefined;
  }

  private schedule(delayMs: number): void {
    if (!this.running) return;
    this.cancelTimer?.();
    const waitMs = Math.max(0, delayMs);
    this.tickDueMs = this.deps.clock.nowMs() + waitMs;
    this.cancelTimer = this.deps.clock.setTimeout(() => this.tick(), waitMs);
  }

  private tick(): void {
    const nowMs = this.deps.clock.nowMs();
    const policy = this.policy();
    if (!policy) {
      // Liveness off: forget every state (nothing was suspended by a link we no longer watch… resume to be sure).
      for (const t of this.tracked.values()) {
        if (t.liveness.phase === 'lost') this.resume(t.tunnel);
        this.deps.beats?.forget(t.tunnel.ifName);
      }
      this.tracked.clear();
      this.schedule(1_000);
      return;
    }
    // Noted before any verdict: a late tick means the peers' packets may still wait in our socket.
    const tickLateMs = nowMs - this.tickDueMs;
    this.late = noteLateness(this.late, nowMs, tickLateMs, policy);
    this.deps.lateness?.noteTick(tickLateMs, nowMs);
    const localLateMs = this.localLateMs(nowMs, policy);
    const serverPolicy = serverEndPolicy(policy);
    // With nothing to send, the tick still comes this often: it finds new tunnels and measures lateness.
    let wakeMs = nowMs + helloEveryMs(NOTHING_HEARD, nowMs, policy, localLateMs);
    try {
      this.sync();
      this.countPackets(nowMs, policy);
      // Hellos due within a quarter interval go out now too: one wake-up sends a batch.
      const batchMs = nowMs + policy.helloIntervalMs / 4;
      for (const t of this.tracked.values()) {
        if (t.nextSendMs > batchMs) continue;
        t.everyMs = helloEveryMs(t.liveness, nowMs, policy, localLateMs);
        t.nextSendMs = nowMs + t.everyMs;
        // One link's failure to send must not stop the others' hellos, nor any verdict.
        try {
          this.sendDue(t, nowMs, localLateMs, policy);
        } catch (err) {
          this.deps.log.warn({ err, peer: t.tunnel.peer, iface: t.tunnel.ifName }, 'link hello not sent');
        }
      }
      for (const t of this.tracked.values()) {
        if (this.silenced.has(t.tunnel.ifName)) {
          t.liveness = excuseSilence(t.liveness, nowMs);
          continue;
        }
        this.probeIfDue(t, nowMs, localLateMs, policy);
        this.apply(t, checkLinkLiveness(t.liveness, nowMs, t.tunnel.direction === 'incoming' ? serverPolicy : policy, localLateMs));
      }
    } catch (err) {
      this.deps.log.warn({ err }, 'link liveness round failed');
    }
    // Wake for the next hello, or earlier when a link's deadline falls before it.
    for (const t of this.tracked.values()) {
      if (t.nextSendMs < wakeMs) wakeMs = t.nextSendMs;
      const d = nextLivenessDeadlineMs(t.liveness, nowMs, t.tunnel.direction === 'incoming' ? serverPolicy : policy, localLateMs);
      if (d !== undefined && d < wakeMs) wakeMs = d;
      const probe = this.probeDue(t, nowMs, localLateMs, policy);
      if (probe !== undefined && probe > nowMs && probe < wakeMs) wakeMs = probe;
    }
    this.schedule(wakeMs - nowMs);
  }

  /** Starts watching tunnels that came up; forgets closed ones. */
  private sync(): void {
    const present = new Map<string, MonitoredTunnel>();
    for (const t of this.deps.tunnels()) if (t.everUp) present.set(t.peer, t);
    for (const [peer, t] of this.tracked) {
      const now = present.get(peer);
      if (!now || now.openedAtMs !== t.tunnel.openedAtMs) {
        this.tracked.delete(peer);
        // A reopened tunnel is a new interface: its beat socket is connected anew.
        this.deps.beats?.forget(t.tunnel.ifName);
      }
    }
    for (const [peer, t] of present) {
      const known = this.tracked.get(peer);
      if (known) {
        if (known.tunnel.ifName !== t.ifName) known.linkHost = linkHostFor(t);
        known.tunnel = t;
      } else {
        this.tracked.set(peer, { tunnel: t, liveness: newLinkLiveness(), sent: 0, nextSendMs: 0, everyMs: 0, linkHost: linkHostFor(t), peerTakesBeats: false, probedSilenceOf: null, lastSignedMs: -Infinity, beatsSince: 0, otherTraffic: false, toldLate: NO_LATENESS });
      }
    }
  }

  private localLateMs(nowMs: number, policy: LivenessPolicy): number {
    return pressuredLateMs(recentLateMs(this.late, nowMs, policy), this.deps.pressure?.someAvg10Pct() ?? 0, policy);
  }

  /**
   * Reads the tunnels' packet counters (with beats on): a rise in received packets on a live
   * link is the peer heard; packets sent besides our beats mean the peer heard from us.
   * A lost or waiting link still needs a signed frame from the peer (a peer whose daemon
   * froze still has babeld's packets cross the tunnel: they must not restore the link).
   */
  private countPackets(nowMs: number, policy: LivenessPolicy): void {
    this.beatsOn = false;
    if (!this.deps.beats || !this.deps.counters || this.deps.settings().beats === false) return;
    let counters: ReturnType<NonNullable<LinkMonitorDeps['counters']>>;
    try {
      counters = this.deps.counters();
    } catch (err) {
      this.deps.log.debug({ err }, 'interface counters not read');
    }
    if (!counters) return;
    this.beatsOn = true;
    for (const t of this.tracked.values()) {
      const c = counters.get(t.tunnel.ifName);
      const heard = c !== undefined && t.rxPackets !== undefined && c.rxPackets > t.rxPackets;
      if (c !== undefined && t.txPackets !== undefined) {
        // The counter moves when openvpn reads a packet: a starved openvpn reads our beats late, and
        // those must not pass for other traffic then (every other beat would be skipped).
        const sent = Math.max(0, c.txPackets - t.txPackets);
        if (sent > t.beatsSince) t.otherTraffic = true;
        t.beatsSince = Math.max(0, t.beatsSince - sent);
      } else {
        t.beatsSince = 0;
      }
      t.rxPackets = c?.rxPackets;
      t.txPackets = c?.txPackets;
      if (heard && t.liveness.phase === 'alive' && !this.silenced.has(t.tunnel.ifName)) this.apply(t, onLinkPacket(t.liveness, nowMs, policy));
    }
  }

  /** When the link's probe is due (undefined: none, or it went out for this silence already). Probes need our counters: beats on. */
  private probeDue(t: Tracked, nowMs: number, localLateMs: number, policy: LivenessPolicy): number | undefined {
    if (!this.beatsOn || this.silenced.has(t.tunnel.ifName) || t.probedSilenceOf === t.liveness.lastHeardMs) return undefined;
    return probeDueMs(t.liveness, nowMs, policy, localLateMs);
  }

  /** One signed hello per silence, one interval before the deadline: the peer answers it at once. */
  private probeIfDue(t: Tracked, nowMs: number, localLateMs: number, policy: LivenessPolicy): void {
    const due = this.probeDue(t, nowMs, localLateMs, policy);
    if (due === undefined || nowMs < due) return;
    t.probedSilenceOf = t.liveness.lastHeardMs;
    try {
      this.sendHello(t, localLateMs);
    } catch (err) {
      this.deps.log.warn({ err, peer: t.tunnel.peer, iface: t.tunnel.ifName }, 'link probe not sent');
    }
  }

  /** Our hello, a beat, or nothing (the tunnel carried other packets of ours) when one is due. */
  private sendDue(t: Tracked, nowMs: number, localLateMs: number, policy: LivenessPolicy): void {
    // The peer holds what we told it, fading as our own peak does: only more lateness than that is news.
    const reportLate = localLateMs - recentLateMs(t.toldLate, nowMs, policy) > policy.lateToleranceMs;
    const kind = linkHelloKind({ ...this.beatFacts(t, nowMs), phase: t.liveness.phase, reportLate, otherTraffic: t.otherTraffic });
    t.otherTraffic = false;
    if (kind === 'none') return;
    if (kind === 'beat' && this.deps.beats!.send(t.tunnel.ifName)) t.beatsSince++;
    else this.sendHello(t, localLateMs);
  }

  private beatFacts(t: Tracked, nowMs: number): Pick<LinkHelloFacts, 'beats' | 'peerTakesBeats' | 'sinceSignedMs'> {
    return { beats: this.beatsOn, peerTakesBeats: t.peerTakesBeats, sinceSignedMs: nowMs - t.lastSignedMs };
  }

  private sendHello(tracked: Tracked, localLateMs: number): void {
    const t = tracked.tunnel;
    const msg: HelloMessage = { kind: 'hello', myTimestampMs: Math.floor(this.deps.clock.nowMs()) };
    tracked.lastSignedMs = msg.myTimestampMs;
    const lateMs = Math.min(MAX_REPORTED_LATE_MS, Math.round(localLateMs));
    if (lateMs > 0) msg.lateMs = lateMs;
    tracked.toldLate = { peakMs: lateMs, atMs: msg.myTimestampMs };
    if (this.beatsOn) msg.takesBeats = true;
    const to = { host: tracked.linkHost, port: this.peerPort(t.peer), prefix: t.peer };
    const withCert = tracked.sent++ % CERT_EVERY === 0 && this.deps.peerproto.hasLinkKey?.(t.peer) !== true;
    // The interface may be gone for a moment (openvpn restarting): that is what liveness measures.
    this.deps.peerproto.send(to, msg, { withCert }).catch((err: unknown) => this.deps.log.debug({ err, peer: t.peer, iface: t.ifName }, 'link hello not sent'));
  }

  /** Any authenticated frame: from the peer's link-local address on its tunnel, it is a sign of the link's life. */
  private onPacket(ev: Incoming): void {
    const scope = scopeOf(ev.from.host);
    if (scope === undefined) return; // not over a tunnel's link (gossip over the overlay or underlay)
    const policy = this.policy();
    if (!policy) return;
    this.ports.set(ev.from.prefix, ev.from.port);
    if (!this.tracked.has(ev.from.prefix)) this.sync(); // came up since the last tick
    const t = this.tracked.get(ev.from.prefix);
    if (!t || t.tunnel.ifName !== scope) return;
    const nowMs = this.deps.clock.nowMs();
    const peerLateMs = ev.msg.kind === 'hello' ? ev.msg.lateMs : undefined;
    this.apply(t, onLinkPacket(t.liveness, nowMs, policy, peerLateMs));
    if (ev.msg.kind !== 'hello') return;
    t.peerTakesBeats = ev.msg.takesBeats === true;
    if (answersSignedHello(this.beatFacts(t, nowMs), policy.helloIntervalMs)) this.sendHello(t, this.localLateMs(nowMs, policy));
  }

  /**
   * The peer told us its end of the tunnel stopped (drain phase 'down'): the link
   * is lost now, as if its hellos had timed out, and restored by its next hello.
   */
  peerSaysDown(peer: string, reason: string): void {
    const t = this.tracked.get(peer);
    if (!t) return;
    const step = declareLost(t.liveness, this.deps.clock.nowMs());
    t.liveness = step.state;
    for (const a of step.actions) if (a.kind === 'lost') this.lose(t, reason, a.silentMs);
  }

  private apply(t: Tracked, step: LivenessStep): void {
    t.liveness = step.state;
    for (const a of step.actions) this.act(t, a);
  }

  private lose(tracked: Tracked, reason: string, silentMs: number): void {
    const t = tracked.tunnel;
    const flaps = tracked.liveness.flaps;
    // A tunnel already down (the peer closed its end: a drain, a replacement) had its "lost" event: routing still follows.
    const known = t.downSinceMs !== undefined && t.downSinceMs !== null;
    this.deps.log.info({ peer: t.peer, iface: t.ifName, silentMs, reason, flaps, ...(known ? { alreadyDown: true } : {}) }, 'link lost');
    if (!known) this.deps.events.add('link-lost', eventText.linkLost(t.peer, reason, flaps), t.peer);
    const suspend = (): void => {
      this.deps.babel.suspendInterface(t.ifName).catch((err: unknown) => this.deps.log.warn({ err, iface: t.ifName }, 'babel flush of a lost link failed'));
    };
    // Detours first, so our traffic keeps flowing while babel looks for routes around the link.
    if (this.deps.detours) {
      this.deps.detours
        .cover(t.ifName, `link lost: ${reason}`)
        .catch((err: unknown) => this.deps.log.warn({ err, iface: t.ifName }, 'detour routes failed'))
        .finally(suspend);
    } else {
      suspend();
    }
    this.deps.manager.setLinkDown(t.peer, reason);
  }

  private act(tracked: Tracked, a: LivenessAction): void {
    const t = tracked.tunnel;
    if (a.kind === 'lost') {
      // The peer is not told: a silent link is lost on both sides by their own hellos at about the same time.
      this.lose(tracked, lostReason(a.silentMs, a.widenedMs), a.silentMs);
    } else if (a.kind === 'restored') {
      this.deps.log.info({ peer: t.peer, iface: t.ifName, lostForMs: a.lostForMs, flaps: a.flaps }, 'link restored');
      this.deps.events.add('link-restored', eventText.linkRestored(t.peer, { lostForMs: a.lostForMs, flaps: a.flaps }), t.peer);
      this.resume(t);
      this.deps.detours?.release(t.ifName);
      this.deps.manager.setLinkUp(t.peer);
    } else {
      this.deps.log.info({ peer: t.peer, child: t.childName, lostForMs: a.lostForMs }, 'link still lost: restarting our openvpn end');
      this.deps.supervisor.restart(t.childName).catch((err: unknown) => this.deps.log.warn({ err, child: t.childName }, 'openvpn restart failed'));
    }
  }

  private resume(t: MonitoredTunnel): void {
    this.deps.babel.resumeInterface(t.ifName).catch((err: unknown) => this.deps.log.warn({ err, iface: t.ifName }, 'babel re-add of a restored link failed'));
  }
}

/**
 * A server end is restarted later than a client end (SERVER_RESTART_AFTER_MS): the client
 * restarts first and its new handshake reaches a live server within seconds, while a server
 * restarted at the same moment could cut that handshake half-way and leave the client waiting
 * out openvpn's 60 s hand-window. A frozen server still gets restarted, a little later.
 */
function serverEndPolicy(policy: LivenessPolicy): LivenessPolicy {
  return { ...policy, restartAfterMs: Math.max(policy.restartAfterMs, SERVER_RESTART_AFTER_MS) };
}

const SERVER_RESTART_AFTER_MS = 20_000;

/** A link with no lateness of its peer: the tick's own cadence when no hello is due. */
const NOTHING_HEARD = newLinkLiveness();

function linkHostFor(t: MonitoredTunnel): string {
  return `${linkLocalFor(t.peer)}%${t.ifName}`;
}

/** The interface of a scoped link-local source ("fe80::1%rn0123"), else undefined. */
export function scopeOf(host: string): string | undefined {
  const i = host.indexOf('%');
  if (i < 0 || !/^fe[89ab]/i.test(host)) return undefined;
  return host.slice(i + 1);
}
