// LAN discovery: every interval (± 20 %) a signed announcement goes out on each
// configured LAN interface, and every datagram heard is decoded, verified and
// either handed to the node as a neighbour or ignored and counted. One socket,
// one timer, one signature per interface and interval: idle cost is a few
// datagrams a minute. A neighbour heard for the first time gets our
// announcement at once (not after a whole interval), so two nodes that start
// together meet within a second or two.
import { randomBytes } from 'node:crypto';
import { isIPv4 } from 'node:net';
import { isPeerAddress } from '../../config/peer-address.js';
import type { InterfaceSnapshot } from '../addresses/addresses.js';
import type { HealthRegistry } from '../health/health.js';
import type { VerifiedPeerCert } from '../peerproto/protocol.js';
import type { Cancel, Clock } from '../sys/clock.js';
import { formatHostPort } from '../sys/host-port.js';
import { decodeAnnouncement, encodeAnnouncement, MAX_LAN_ENDPOINTS, NONCE_BYTES, type AnnouncedPeer, type DecodedAnnouncement } from './announcement.js';
import { ReplayWindow } from './replay-window.js';
import { dgramLanSocket, type LanDatagramSource, type LanSocket, type LanSocketFactory } from './socket.js';
import { REJECTIONS, verifyAnnouncement, type Rejection } from './verify.js';

/** Clocks on one LAN may differ this much (either way) before an announcement counts as stale. */
export const LAN_MAX_SKEW_MS = 300_000;
/** A first announcement, or one after a failed send, goes out this soon (the link-local address may still be tentative). */
const RETRY_MS = 2_000;
/** Answer to a new neighbour, at most this often per interface. */
const ANSWER_MIN_GAP_MS = 1_000;
const JITTER = 0.2;

export interface LanOptions {
  interfaces: readonly string[];
  intervalMs: number;
  port: number;
}

export interface LanSelf {
  prefix: string;
  certDer: Buffer;
  sign(data: Buffer): Buffer;
  /** SHA-256 of our CA's DER. */
  caFingerprint: Buffer;
}

/** A neighbour whose announcement passed every check. */
export interface LanNeighbourSeen {
  sender: VerifiedPeerCert;
  ifName: string;
  announcement: DecodedAnnouncement;
  /** First time heard on this interface since the start. */
  isNew: boolean;
}

export interface LanDeps {
  clock: Clock;
  log: { debug(obj: object, msg: string): void; info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
  health?: Pick<HealthRegistry, 'raise' | 'clear'>;
  self: LanSelf;
  verifyCert: (certDer: Buffer) => VerifiedPeerCert;
  readInterfaces: () => InterfaceSnapshot;
  /** Our peer-protocol port, announced with each LAN address. */
  peerPort: () => number;
  registryUrl: () => string | undefined;
  sharedPeers: () => AnnouncedPeer[];
  onNeighbour: (n: LanNeighbourSeen) => void;
  socketFactory?: LanSocketFactory;
  rand?: () => number;
}

export interface LanInterfaceStatus {
  name: string;
  joined: boolean;
  /** Why the interface is not in use, or why the last send failed. */
  error: string | null;
  /** What we announce on it. */
  endpoints: string[];
  lastSentMs: number | null;
}

export interface LanStatus {
  port: number;
  intervalSec: number;
  interfaces: LanInterfaceStatus[];
  sent: number;
  sendErrors: number;
  received: number;
  accepted: number;
  /** Ignored announcements by reason. */
  ignored: Record<Rejection, number>;
  neighbours: { prefix: string; interface: string; endpoints: string[]; lastHeardMs: number }[];
}

interface IfaceState {
  name: string;
  joined: boolean;
  error: string | null;
  endpoints: string[];
  lastSentMs: number | null;
  answerTimer: Cancel | undefined;
}

export class LanDiscovery {
  private socket: LanSocket | undefined;
  private readonly ifaces: IfaceState[];
  private readonly replay = new ReplayWindow({ maxSkewMs: LAN_MAX_SKEW_MS });
  private readonly neighbours = new Map<string, { prefix: string; interface: string; endpoints: string[]; lastHeardMs: number }>();
  private readonly counts = { sent: 0, sendErrors: 0, received: 0, accepted: 0 };
  private readonly ignored = Object.fromEntries(REJECTIONS.map((r) => [r, 0])) as Record<Rejection, number>;
  private timer: Cancel | undefined;
  private lastTimestampMs = 0;
  private running = false;
  private readonly rand: () => number;

  constructor(
    private readonly options: LanOptions,
    private readonly deps: LanDeps,
  ) {
    this.ifaces = options.interfaces.map((name) => ({ name, joined: false, error: null, endpoints: [], lastSentMs: null, answerTimer: undefined }));
    this.rand = deps.rand ?? Math.random;
  }

  /** Binds the socket; a bind failure is a health item and the daemon runs on without LAN discovery. */
  async start(): Promise<void> {
    if (this.ifaces.length === 0) return;
    const socket = (this.deps.socketFactory ?? dgramLanSocket)();
    try {
      await socket.bind(this.options.port);
    } catch (err) {
      await socket.close();
      this.deps.health?.raise({
        code: 'RN_LAN_BIND',
        title: 'LAN discovery is off',
        severity: 'warning',
        text: `cannot bind UDP port ${this.options.port} for LAN announcements (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}). Set lan.port to a free port (not underlay.port or the tunnel ports above it) and restart.`,
      });
      return;
    }
    this.socket = socket;
    socket.onMessage((data, from) => this.receive(data, from));
    this.running = true;
    // Listening starts now; the first announcement waits a moment (a link-local address may still be tentative).
    for (const iface of this.ifaces) this.join(socket, iface);
    this.schedule(RETRY_MS * this.rand());
  }

  async stop(): Promise<void> {
    this.running = false;
    this.timer?.();
    for (const i of this.ifaces) i.answerTimer?.();
    await this.socket?.close();
    this.socket = undefined;
  }

  status(): LanStatus {
    return {
      port: this.options.port,
      intervalSec: this.options.intervalMs / 1000,
      interfaces: this.ifaces.map(({ name, joined, error, endpoints, lastSentMs }) => ({ name, joined, error, endpoints, lastSentMs })),
      ...this.counts,
      ignored: { ...this.ignored },
      neighbours: [...this.neighbours.values()].map((n) => ({ ...n })),
    };
  }

  private schedule(ms: number): void {
    if (!this.running) return;
    this.timer = this.deps.clock.setTimeout(() => {
      void this.round().then((allSent) => {
        const next = allSent ? this.options.intervalMs * (1 - JITTER + 2 * JITTER * this.rand()) : RETRY_MS;
        this.schedule(next);
      });
    }, ms);
  }

  /** Joins what is not joined yet and announces on every joined interface; true when every one went out. */
  private async round(): Promise<boolean> {
    let allSent = true;
    for (const iface of this.ifaces) allSent = (await this.announce(iface)) && allSent;
    this.reportInterfaces();
    return allSent;
  }

  private async announce(iface: IfaceState): Promise<boolean> {
    const socket = this.socket;
    if (!socket || !this.running) return false;
    if (!iface.joined && !this.join(socket, iface)) return false;
    iface.endpoints = this.endpointsOn(iface.name);
    if (iface.endpoints.length === 0) {
      iface.error = `no usable address on ${iface.name} to announce`;
      return false;
    }
    try {
      const nowMs = this.deps.clock.nowMs();
      // Strictly increasing: two interfaces on one segment never send the same timestamp.
      this.lastTimestampMs = Math.max(nowMs, this.lastTimestampMs + 1);
      const datagram = encodeAnnouncement(
        {
          timestampMs: this.lastTimestampMs,
          nonce: randomBytes(NONCE_BYTES),
          caFingerprint: this.deps.self.caFingerprint,
          certDer: this.deps.self.certDer,
          endpoints: iface.endpoints,
          registryUrl: this.deps.registryUrl(),
          peers: this.deps.sharedPeers(),
        },
        (data) => this.deps.self.sign(data),
      );
      await socket.send(iface.name, datagram);
      this.counts.sent++;
      iface.lastSentMs = nowMs;
      iface.error = null;
      return true;
    } catch (err) {
      this.counts.sendErrors++;
      iface.error = `send failed: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
      this.deps.log.debug({ err, interface: iface.name }, 'LAN announcement not sent; retrying');
      return false;
    }
  }

  private join(socket: LanSocket, iface: IfaceState): boolean {
    try {
      socket.join(iface.name);
      iface.joined = true;
      iface.error = null;
      return true;
    } catch (err) {
      iface.error = `cannot join the LAN group on ${iface.name} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
      return false;
    }
  }

  /** One health item for every interface the group cannot be joined on (a missing or IPv6-less interface). */
  private reportInterfaces(): void {
    const failing = this.ifaces.filter((i) => !i.joined);
    if (failing.length === 0) {
      this.deps.health?.clear('RN_LAN_INTERFACE');
      return;
    }
    this.deps.health?.raise({
      code: 'RN_LAN_INTERFACE',
      title: `LAN discovery cannot use ${failing.map((i) => i.name).join(', ')}`,
      severity: 'warning',
      text: `${failing.map((i) => i.error).join('; ')}. Check that each interface exists, is up and has IPv6 enabled, or remove it from lan.interfaces; retried every ${RETRY_MS / 1000} s.`,
      visibleAfterMs: 30_000,
    });
  }

  /** Our addresses on the interface that a neighbour can use: IPv4 first, link-local and the like left out. */
  private endpointsOn(ifName: string): string[] {
    const port = this.deps.peerPort();
    const infos = this.deps.readInterfaces()[ifName] ?? [];
    return infos
      .filter((i) => isPeerAddress(i.address))
      .sort((a, b) => Number(isIPv4(b.address)) - Number(isIPv4(a.address)))
      .slice(0, MAX_LAN_ENDPOINTS)
      .map((i) => formatHostPort(i.address, port));
  }

  /** Never throws: whatever arrives is either a neighbour or a counted reason. */
  private receive(data: Buffer, from: LanDatagramSource): void {
    this.counts.received++;
    const ifName = from.ifName ?? '?';
    let a: DecodedAnnouncement;
    try {
      a = decodeAnnouncement(data);
    } catch (err) {
      this.reject('malformed', (err as Error).message, from);
      return;
    }
    try {
      const v = verifyAnnouncement(a, {
        caFingerprint: this.deps.self.caFingerprint,
        ownPrefix: this.deps.self.prefix,
        verifyCert: this.deps.verifyCert,
        replay: this.replay,
        nowMs: this.deps.clock.nowMs(),
      });
      if (!v.ok) {
        if (v.reason !== 'own') this.reject(v.reason, v.detail, from);
        return;
      }
      this.counts.accepted++;
      const key = `${v.sender.prefix} ${ifName}`;
      const isNew = !this.neighbours.has(key);
      this.neighbours.set(key, { prefix: v.sender.prefix, interface: ifName, endpoints: a.endpoints, lastHeardMs: this.deps.clock.nowMs() });
      this.deps.onNeighbour({ sender: v.sender, ifName, announcement: a, isNew });
      if (isNew) this.answerSoon(ifName);
    } catch (err) {
      this.deps.log.warn({ err, from: from.address }, 'LAN announcement handling failed');
    }
  }

  private reject(reason: Rejection, detail: string, from: LanDatagramSource): void {
    this.ignored[reason]++;
    this.deps.log.debug({ reason, from: from.address }, `LAN announcement ignored: ${detail}`);
  }

  /** A new neighbour hears from us now rather than after up to a whole interval. */
  private answerSoon(ifName: string): void {
    const iface = this.ifaces.find((i) => i.name === ifName);
    if (!iface || iface.answerTimer) return;
    const sinceMs = iface.lastSentMs === null ? Infinity : this.deps.clock.nowMs() - iface.lastSentMs;
    const delayMs = Math.max(0, ANSWER_MIN_GAP_MS - sinceMs) + 200 * this.rand();
    iface.answerTimer = this.deps.clock.setTimeout(() => {
      iface.answerTimer = undefined;
      void this.announce(iface);
    }, delayMs);
  }
}
