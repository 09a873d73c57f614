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
// A link still silent one interval before its deadline gets probes (signed hellos
// the peer answers at once, four in that interval): peers that probe take a beat
// every other interval. A link that carries our traffic is watched closely
// (busy-link.ts): the peer, told so, beats every fifth of an interval while our
// packets arrive, and its silence is a verdict that much sooner. Any other link is idle:
// with the idle pace on (tunnels.link_idle_pace) it is lost only after that many times
// the deadline, and our hellos say so (`idlePace`): the peer beats that much less often.
import type { Logger } from 'pino';
import { MAX_IDLE_PACE, type HelloMessage } from '../../wire/messages.js';
import type { EventLog } from '../events.js';
import { eventText } from '../events.js';
import { linkLocalFor } from '../identity.js';
import type { Incoming, PeerAddress } from '../peerproto/protocol.js';
import type { Clock } from '../sys/clock.js';
import type { CpuPressureSource } from '../sys/cpu-pressure.js';
import { answersSignedHello, linkHelloKind, nextHelloAfterMs, type LinkHelloFacts, type LinkHelloKind } from './hello-kind.js';
import { BEAT_BYTES, BUSY_DIVISOR, BUSY_MAX_PRESSURE_PCT, beatsFast, newBusyRun, noteSent, tellsPeer, watchedClosely, type BusyRun } from './busy-link.js';
import type { LinkBeatSender } from './link-beats.js';
import {
  checkLinkLiveness,
  checkSilenceSince,
  declareLost,
  excuseSilence,
  helloEveryMs,
  HALF_BEATS_MIN_MISSES,
  idlePolicy,
  livenessPolicy,
  lostAfterMs,
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
  /**
   * Read at every tick so a reload applies: hello interval (0 = liveness off), misses, beats (absent: on
   * when wired), the idle pace (an idle link's deadline is that many times the usual one; absent or 1: off).
   */
  settings: () => { helloIntervalSec: number; misses: number; beats?: boolean; idlePace?: number };
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
  counters?: () => ReadonlyMap<string, { rxPackets: number; txPackets: number; rxBytes?: number }> | undefined;
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
  /** The peer's hellos said it probes before its verdict: a beat every other interval will do. */
  peerProbes: boolean;
  /** The peer's hellos said it judges idle links by this many times the deadline (1: not). */
  peerIdlePace: number;
  /** The lastHeardMs of the silence our last probe asked about, and how many probes asked about it. */
  probedSilenceOf: number | null;
  probesSent: number;
  /** When our last signed hello went out on this link (-Infinity: none yet). */
  lastSignedMs: number;
  /** The interface's counters at the last tick, and our beats not yet seen in the tx counter. */
  rxPackets?: number;
  rxBytes?: number;
  txPackets?: number;
  beatsSince: number;
  /** Something besides our beats left on the tunnel since our last hello or beat. */
  otherTraffic: boolean;
  /** The lateness our last signed hello told the peer: its copy fades as ours does. */
  toldLate: Lateness;
  /** Our traffic over the link (busy-link.ts): told to the peer, which then beats fast. */
  busy: BusyRun;
  /** The peer told us its traffic crosses the link (its `busy` hello), and when we last counted its packets besides beats. */
  peerBusyToldMs: number | null;
  heardTrafficAtMs: number;
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
  /** The link carries our traffic and the peer beats fast: its silence is a verdict after a fifth of the deadline. */
  closely: boolean;
  /** The silence after which the live link is lost now, before any widening (idle, usual or close); null unless alive. */
  deadlineMs: number | null;
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
  /** …and our deadline leaves an interval for probes after one missed beat: our hellos say we probe. */
  private probesOn = false;
  /** …and idle links are judged by this many times the deadline (1: not): our hellos say so. */
  private idlePace = 1;

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
    const policy = this.policy();
    const baseMs = policy?.helloIntervalMs ?? Infinity;
    const localLateMs = policy ? this.localLateMs(this.deps.clock.nowMs(), policy) : 0;
    return [...this.tracked.values()].map((t) => {
      const judged = policy ? this.judged(t, policy, policy, localLateMs).policy : undefined;
      return {
        peer: t.tunnel.peer,
        ifName: t.tunnel.ifName,
        phase: t.liveness.phase,
        lastHeardMs: t.liveness.lastHeardMs,
        lostSinceMs: t.liveness.lostSinceMs,
        flaps: t.liveness.flaps,
        helloEveryMs: t.everyMs > 0 ? t.everyMs : null,
        helloSlowed: t.everyMs > baseMs,
        beats: this.beatsOn && t.peerTakesBeats,
        closely: judged !== undefined && judged.helloIntervalMs < baseMs,
        deadlineMs: judged !== undefined && t.liveness.phase === 'alive' ? lostAfterMs(judged) : null,
      };
    });
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
    const busyMs = policy.helloIntervalMs / BUSY_DIVISOR;
    try {
      this.sync();
      this.countPackets(nowMs, policy);
      for (const t of this.tracked.values()) {
        const fast = this.beatsFast(t, nowMs, policy, localLateMs);
        // Hellos due within a quarter interval go out now too: one wake-up sends a batch.
        if (t.nextSendMs > nowMs + (fast ? busyMs : policy.helloIntervalMs) / 4) continue;
        t.everyMs = helloEveryMs(t.liveness, nowMs, policy, localLateMs);
        t.nextSendMs = nowMs + t.everyMs;
        // One link's failure to send must not stop the others' hellos, nor any verdict.
        try {
          t.nextSendMs = nowMs + nextHelloAfterMs(this.sendDue(t, nowMs, localLateMs, policy), t.everyMs, policy.helloIntervalMs, t.peerProbes, fast ? 1 : t.peerIdlePace);
          if (fast) t.nextSendMs = Math.min(t.nextSendMs, nowMs + busyMs);
        } catch (err) {
          this.deps.log.warn({ err, peer: t.tunnel.peer, iface: t.tunnel.ifName }, 'link hello not sent');
        }
      }
      for (const t of this.tracked.values()) {
        if (this.silenced.has(t.tunnel.ifName)) {
          t.liveness = excuseSilence(t.liveness, nowMs);
          continue;
        }
        this.tellBusyIfDue(t, nowMs, localLateMs, policy);
        const j = this.judged(t, policy, serverPolicy, localLateMs);
        this.probeIfDue(t, nowMs, localLateMs, j.policy, j.seen);
        this.apply(t, j.seen === t.liveness ? checkLinkLiveness(t.liveness, nowMs, j.policy, localLateMs) : checkSilenceSince(t.liveness, j.seen.lastHeardMs!, nowMs, j.policy, localLateMs));
      }
    } catch (err) {
      this.deps.log.warn({ err }, 'link liveness round failed');
    }
    // With nothing to send, the tick still comes every interval: it finds new tunnels, counts our
    // traffic (a busy link asks for the close watch) and measures lateness. While every link is
    // alive and idle with the idle pace on, every paced interval: a flow of ours is then seen
    // within one, and the close watch asked for at once (its windows are that long).
    let wakeMs = nowMs + helloEveryMs(NOTHING_HEARD, nowMs, policy, localLateMs) * (this.allIdle() ? this.idlePace : 1);
    // Wake for the next hello, or earlier when a link's deadline falls before it.
    for (const t of this.tracked.values()) {
      if (t.nextSendMs < wakeMs) wakeMs = t.nextSendMs;
      const j = this.judged(t, policy, serverPolicy, localLateMs);
      const d = nextLivenessDeadlineMs(j.seen, nowMs, j.policy, localLateMs);
      if (d !== undefined && d < wakeMs) wakeMs = d;
      const probe = this.probeDue(t, nowMs, localLateMs, j.policy, j.seen);
      if (probe !== undefined && probe > nowMs && probe < wakeMs) wakeMs = probe;
      // A link watched closely has its counters read every busy interval: the peer's beats come that often.
      if (j.policy.helloIntervalMs < policy.helloIntervalMs && nowMs + busyMs < wakeMs) wakeMs = nowMs + busyMs;
    }
    this.schedule(wakeMs - nowMs);
  }

  /**
   * What the link is judged by now: its policy and its silence. A server end's restarts come
   * later (serverEndPolicy). A link that carries our traffic, where the peer beats every busy
   * interval, is lost after `misses` of those (busy-link.ts), while both ends run on time. With
   * the idle pace on, any other live link is lost after that many times the deadline
   * (idlePolicy), except while our `busy` hello waits for its first answer: the usual deadline
   * then also runs from the hello (`seen`: the silence counted from it), and the earlier of the
   * two counts. The peer answers a `busy` hello at once, granted or not, so traffic that starts
   * over a dead idle link is found in about a second.
   */
  private judged(t: Tracked, policy: LivenessPolicy, serverPolicy: LivenessPolicy, localLateMs: number): { policy: LivenessPolicy; seen: LinkLiveness } {
    const base = t.tunnel.direction === 'incoming' ? serverPolicy : policy;
    const seen = t.liveness;
    if (!this.beatsOn || seen.phase !== 'alive') return { policy: base, seen };
    if (watchedClosely(t.busy) && this.onTime(t, policy, localLateMs) && !this.pressured()) return { policy: { ...base, helloIntervalMs: base.helloIntervalMs / BUSY_DIVISOR }, seen };
    if (this.idlePace <= 1) return { policy: base, seen };
    const idle = idlePolicy(base, this.idlePace);
    const toldMs = t.busy.toldMs;
    const heardMs = seen.lastHeardMs;
    if (toldMs === null || heardMs === null || heardMs > toldMs || toldMs + lostAfterMs(base) >= heardMs + lostAfterMs(idle)) return { policy: idle, seen };
    return { policy: base, seen: excuseSilence(seen, toldMs) };
  }

  /** The idle pace is on and every link is alive and idle: no run of our traffic, the peer's traffic not told to us, no planned silence. */
  private allIdle(): boolean {
    if (this.idlePace <= 1) return false;
    for (const t of this.tracked.values()) {
      if (t.liveness.phase !== 'alive' || t.busy.sinceMs !== null || t.peerBusyToldMs !== null || this.silenced.has(t.tunnel.ifName)) return false;
    }
    return true;
  }

  /** This host's CPU pressure is too high for the close watch (BUSY_MAX_PRESSURE_PCT): it neither asks for it nor grants it. */
  private pressured(): boolean {
    return (this.deps.pressure?.someAvg10Pct() ?? 0) >= BUSY_MAX_PRESSURE_PCT;
  }

  /**
   * Neither end of the link runs late by more than about half an interval (its hellos slowed by
   * less than a quarter). The close watch is only for then: on a starved machine (a 32-node lab
   * starting on 2 cores) fast ticks and beats on every link babel floods would starve it further,
   * while the jitter of a calm one (a tick some tens of ms late) only widens its deadline a little.
   */
  private onTime(t: Tracked, policy: LivenessPolicy, localLateMs: number): boolean {
    return helloEveryMs(t.liveness, this.deps.clock.nowMs(), policy, localLateMs) < policy.helloIntervalMs * 1.25;
  }

  /** The peer's traffic crosses the link and it asked us to beat every busy interval (its `busy` hello), and we run on time. */
  private beatsFast(t: Tracked, nowMs: number, policy: LivenessPolicy, localLateMs: number): boolean {
    if (t.peerBusyToldMs === null) return false;
    if (!this.onTime(t, policy, localLateMs)) return false; // our lateness, told in our hellos, ends the peer's close watch
    if (this.beatsOn && t.peerTakesBeats && beatsFast(t.peerBusyToldMs, t.heardTrafficAtMs, nowMs, policy.helloIntervalMs)) return true;
    t.peerBusyToldMs = null; // its traffic stopped: its next run asks again
    return false;
  }

  /** Our traffic has crossed the link for an interval: the peer (one that probes) is asked to beat fast, until it answers. */
  private tellBusyIfDue(t: Tracked, nowMs: number, localLateMs: number, policy: LivenessPolicy): void {
    if (!this.probesOn || !t.peerProbes || t.liveness.phase !== 'alive' || !tellsPeer(t.busy, nowMs, policy.helloIntervalMs)) return;
    if (!this.onTime(t, policy, localLateMs) || this.pressured()) return;
    try {
      t.busy = { ...t.busy, toldMs: this.sendHello(t, localLateMs, { busy: true }) };
    } catch (err) {
      this.deps.log.warn({ err, peer: t.tunnel.peer, iface: t.tunnel.ifName }, 'busy link hello not sent');
    }
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
        this.tracked.set(peer, { tunnel: t, liveness: newLinkLiveness(), sent: 0, nextSendMs: 0, everyMs: 0, linkHost: linkHostFor(t), peerTakesBeats: false, peerProbes: false, peerIdlePace: 1, probedSilenceOf: null, probesSent: 0, lastSignedMs: -Infinity, beatsSince: 0, otherTraffic: false, toldLate: NO_LATENESS, busy: newBusyRun(this.deps.clock.nowMs()), peerBusyToldMs: null, heardTrafficAtMs: -Infinity });
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
    this.probesOn = false;
    this.idlePace = 1;
    const settings = this.deps.settings();
    if (!this.deps.beats || !this.deps.counters || settings.beats === false) return;
    let counters: ReturnType<NonNullable<LinkMonitorDeps['counters']>>;
    try {
      counters = this.deps.counters();
    } catch (err) {
      this.deps.log.debug({ err }, 'interface counters not read');
    }
    if (!counters) return;
    this.beatsOn = true;
    this.probesOn = policy.misses >= HALF_BEATS_MIN_MISSES;
    if (this.probesOn) this.idlePace = Math.min(MAX_IDLE_PACE, Math.max(1, Math.floor(settings.idlePace ?? 1)));
    for (const t of this.tracked.values()) {
      const c = counters.get(t.tunnel.ifName);
      const heard = c !== undefined && t.rxPackets !== undefined && c.rxPackets > t.rxPackets;
      // More bytes than beats' arrived: the peer's traffic (babel, data), not only its beats.
      if (c?.rxBytes !== undefined && t.rxBytes !== undefined && t.rxPackets !== undefined && c.rxBytes - t.rxBytes > BEAT_BYTES * (c.rxPackets - t.rxPackets)) t.heardTrafficAtMs = nowMs;
      let sentOther = 0;
      if (c !== undefined && t.txPackets !== undefined) {
        // The counter moves when openvpn reads a packet: a starved openvpn reads our beats late, and
        // those must not pass for other traffic then (every other beat would be skipped).
        const sent = Math.max(0, c.txPackets - t.txPackets);
        sentOther = Math.max(0, sent - t.beatsSince);
        if (sentOther > 0) t.otherTraffic = true;
        t.beatsSince = Math.max(0, t.beatsSince - sent);
      } else {
        t.beatsSince = 0;
      }
      const wasClose = watchedClosely(t.busy);
      t.busy = noteSent(t.busy, nowMs, sentOther, policy.helloIntervalMs, heard ? nowMs : t.liveness.lastHeardMs);
      if (wasClose && !watchedClosely(t.busy)) this.deps.log.debug({ peer: t.tunnel.peer, iface: t.tunnel.ifName }, 'link no longer busy: the idle deadline again');
      t.rxPackets = c?.rxPackets;
      t.rxBytes = c?.rxBytes;
      t.txPackets = c?.txPackets;
      if (heard && t.liveness.phase === 'alive' && !this.silenced.has(t.tunnel.ifName)) this.apply(t, onLinkPacket(t.liveness, nowMs, policy));
    }
  }

  /** When the link's next probe is due (undefined: none, or all of this silence's went out). Probes need our counters: beats on. */
  private probeDue(t: Tracked, nowMs: number, localLateMs: number, policy: LivenessPolicy, seen: LinkLiveness): number | undefined {
    if (!this.beatsOn || this.silenced.has(t.tunnel.ifName)) return undefined;
    const sent = t.probedSilenceOf === seen.lastHeardMs ? t.probesSent : 0;
    return probeDueMs(seen, nowMs, policy, localLateMs, sent);
  }

  /** A signed hello marked `probe` when one is due in this silence: the peer answers it at once. */
  private probeIfDue(t: Tracked, nowMs: number, localLateMs: number, policy: LivenessPolicy, seen: LinkLiveness): void {
    const due = this.probeDue(t, nowMs, localLateMs, policy, seen);
    if (due === undefined || nowMs < due) return;
    t.probesSent = t.probedSilenceOf === seen.lastHeardMs ? t.probesSent + 1 : 1;
    t.probedSilenceOf = seen.lastHeardMs;
    try {
      this.sendHello(t, localLateMs, { probe: true });
    } catch (err) {
      this.deps.log.warn({ err, peer: t.tunnel.peer, iface: t.tunnel.ifName }, 'link probe not sent');
    }
  }

  /** Our hello, a beat, or nothing (the tunnel carried other packets of ours) when one is due; which one it was. */
  private sendDue(t: Tracked, nowMs: number, localLateMs: number, policy: LivenessPolicy): LinkHelloKind {
    // The peer holds what we told it, fading as our own peak does: only more lateness than that is news.
    const reportLate = localLateMs - recentLateMs(t.toldLate, nowMs, policy) > policy.lateToleranceMs;
    const kind = linkHelloKind({ ...this.beatFacts(t, nowMs), phase: t.liveness.phase, reportLate, otherTraffic: t.otherTraffic });
    t.otherTraffic = false;
    if (kind === 'none') return kind;
    if (kind === 'beat' && this.sendBeat(t)) return kind;
    this.sendHello(t, localLateMs);
    return 'hello';
  }

  private beatFacts(t: Tracked, nowMs: number): Pick<LinkHelloFacts, 'beats' | 'peerTakesBeats' | 'sinceSignedMs'> {
    return { beats: this.beatsOn, peerTakesBeats: t.peerTakesBeats, sinceSignedMs: nowMs - t.lastSignedMs };
  }

  /** Sends a signed link hello; its timestamp. */
  private sendHello(tracked: Tracked, localLateMs: number, mark: { probe?: boolean; busy?: boolean; echoMs?: number } = {}): number {
    const t = tracked.tunnel;
    const msg: HelloMessage = { kind: 'hello', myTimestampMs: Math.floor(this.deps.clock.nowMs()) };
    tracked.lastSignedMs = msg.myTimestampMs;
    const lateMs = Math.min(MAX_REPORTED_LATE_MS, Math.round(localLateMs));
    if (lateMs > 0) msg.lateMs = lateMs;
    tracked.toldLate = { peakMs: lateMs, atMs: msg.myTimestampMs };
    if (this.beatsOn) msg.takesBeats = true;
    if (this.probesOn) msg.probes = true;
    if (this.idlePace > 1) msg.idlePace = this.idlePace;
    if (mark.probe) msg.probe = true;
    if (mark.busy) msg.busy = true;
    if (mark.echoMs !== undefined) msg.yourTimestampMs = mark.echoMs;
    const to = { host: tracked.linkHost, port: this.peerPort(t.peer), prefix: t.peer };
    const withCert = tracked.sent++ % CERT_EVERY === 0 && this.deps.peerproto.hasLinkKey?.(t.peer) !== true;
    // The interface may be gone for a moment (openvpn restarting): that is what liveness measures.
    this.deps.peerproto.send(to, msg, { withCert }).catch((err: unknown) => this.deps.log.debug({ err, peer: t.peer, iface: t.ifName }, 'link hello not sent'));
    return msg.myTimestampMs;
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
    t.peerProbes = ev.msg.probes === true;
    t.peerIdlePace = ev.msg.idlePace ?? 1;
    // The answer to our `busy` hello echoes it: the peer beats fast to us from now on.
    if (ev.msg.yourTimestampMs !== undefined && t.busy.toldMs !== null && t.busy.sinceMs !== null && ev.msg.yourTimestampMs >= t.busy.sinceMs && !t.busy.acked) {
      t.busy = { ...t.busy, acked: true };
      this.deps.log.debug({ peer: t.tunnel.peer, iface: t.tunnel.ifName }, 'busy link: the peer beats fast, watched closely');
    }
    if (ev.msg.busy) {
      // Not granted under CPU pressure: the answer has no echo, so the peer keeps its idle deadline.
      // (Granted once, the fast beats go on while its traffic lasts: the peer judges by them.)
      const granted = !this.pressured();
      if (granted) {
        t.peerBusyToldMs = nowMs;
        t.heardTrafficAtMs = nowMs;
      }
      // Answered as a probe is: at most once an eighth of an interval, whatever the peer sends.
      if (answersSignedHello({ ...this.beatFacts(t, nowMs), probe: true }, policy.helloIntervalMs)) this.sendHello(t, this.localLateMs(nowMs, policy), granted ? { echoMs: ev.msg.myTimestampMs } : {});
      if (!granted) return;
      // The first fast beat is due a busy interval from now, not at the calm cadence's next one.
      const busyMs = policy.helloIntervalMs / BUSY_DIVISOR;
      t.nextSendMs = Math.min(t.nextSendMs, nowMs + busyMs);
      if (this.tickDueMs > nowMs + busyMs) this.schedule(busyMs);
      return;
    }
    const probe = ev.msg.probe === true;
    if (!answersSignedHello({ ...this.beatFacts(t, nowMs), probe }, policy.helloIntervalMs)) return;
    this.sendHello(t, this.localLateMs(nowMs, policy));
    // A probe's answer is lost only when both packets are: a beat follows the signed hello.
    if (!probe || !this.beatsOn || !t.peerTakesBeats || t.liveness.phase !== 'alive') return;
    try {
      this.sendBeat(t);
    } catch (err) {
      this.deps.log.debug({ err, peer: t.tunnel.peer, iface: t.tunnel.ifName }, 'beat after a probe answer not sent');
    }
  }

  /** A beat on the link; false when its socket is not ready. */
  private sendBeat(t: Tracked): boolean {
    if (!this.deps.beats!.send(t.tunnel.ifName)) return false;
    t.beatsSince++;
    return true;
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
