// The peer protocol endpoint: authenticated, replay-protected UDP messages
// between nodes (docs/peer-protocol.md): ECDSA-signed, or between two nodes that
// hold each other's certificate, a link MAC (link-keys.ts). Byte layout lives in wire/; this module does
// send/receive, authentication, request/reply and events. The receive path never
// throws: bad datagrams are dropped, counted in stats() and logged at debug.
import { createHash, randomInt, type KeyObject } from 'node:crypto';
import { WireDecodeError } from '../../wire/errors.js';
import {
  chunkNetworkConfig,
  decodePacket,
  encodePacket,
  LINK_FLAGS,
  type DecodedPacket,
  type HelloMessage,
  type MessageKind,
  type MessageOf,
  type Packet,
  type PeerMessage,
} from '../../wire/messages.js';
import { MAX_MESSAGE_BYTES } from '../../wire/tlv.js';
import { verifyBytes } from '../../pki/identity.js';
import { PeerProtoError } from './errors.js';
import { ConfirmedEndpoints, endpointKey } from './confirmed-endpoints.js';
import { certFingerprint, LinkKeys, linkTag, linkTagValid, type LinkKey } from './link-keys.js';
import { ConfigAssembler } from './reassembly.js';
import { derSignature } from './signature.js';
import { ReplayGuard, type ReplayVerdict } from './replay.js';
import { StartFloor } from './start-floor.js';
import { SourceRation, type RationOptions } from './token-buckets.js';
import { dgramSocketFactory, type UdpEndpoint, type UdpSocket, type UdpSocketFactory } from './socket.js';

/** The slice of daemon/sys/clock.ts Clock this module uses. */
export interface PeerProtoClock {
  nowMs(): number;
  setTimeout(fn: () => void, ms: number): () => void;
}

/** pino-compatible. */
export interface PeerProtoLog {
  trace(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
  /** pino's: lets the hot path skip building trace objects nobody logs. */
  isLevelEnabled?(level: string): boolean;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface VerifiedPeerCert {
  /** The certificate's prefix (CN), canonical CIDR text. */
  prefix: string;
  serial: string;
  publicKey: KeyObject;
}

export interface PeerProtocolDeps {
  clock: PeerProtoClock;
  self: {
    /** Our prefix, canonical CIDR text. */
    prefix: string;
    certDer: Buffer;
    /** ECDSA P-256/SHA-256 over data; IEEE-P1363 (64 bytes) preferred, DER accepted. */
    sign(data: Buffer): Buffer;
    /**
     * The private key behind certDer. With it, frames to a peer that holds our
     * certificate carry a link MAC instead of a signature; without, every frame is signed.
     */
    privateKey?: KeyObject;
  };
  /** Checks a peer's certificate against the CA and the CRL; throws if invalid or revoked (cert.ts makePeerCertVerifier). */
  verifyPeerCert: PeerCertCheck;
  log: PeerProtoLog;
  /** Defaults to node:dgram (udp6, dual stack). */
  socketFactory?: UdpSocketFactory;
  /** Version of the network config we hold, sent in hellos. */
  configVersion?: () => number | undefined;
}

/**
 * A full certificate check, and optionally `peek`: the verdict from a cache of
 * certificates already verified, without a full check (undefined: not cached).
 * Without peek every certificate not held for its prefix is a rationed full check.
 */
export interface PeerCertCheck {
  (certDer: Buffer): VerifiedPeerCert;
  peek?(certDer: Buffer): VerifiedPeerCert | 'refused' | undefined;
}

export interface PeerProtocolOptions {
  /** Accepted clock difference between sender and receiver (default 5 min). */
  replayWindowMs?: number;
  /**
   * Sequence numbers remembered per sender below its highest (default 8192, a multiple of 32): how far
   * behind a reordered frame may arrive. A sender counts seq for every frame to any peer.
   */
  replaySeqWindow?: number;
  /** Link keys remembered (default 1024; each is one ECDH to derive again). */
  maxLinkKeys?: number;
  /** Certificates (peers) remembered (default 10000). */
  maxCachedPeers?: number;
  /** A cached certificate is checked again (CA, expiry, CRL) after this long (default 1 h). */
  certRecheckMs?: number;
  /** An incomplete network config is forgotten after this long (default 30 s). */
  configReassemblyMs?: number;
  /** A request's reply is remembered this long, so a retry gets the same answer (default 30 s). */
  replyCacheMs?: number;
  /** When this endpoint started (default: when it was built): frames made before it are refused (start-floor.ts). */
  startedAtMs?: number;
  /** Clock difference allowed before the first round trip with a sender (default 10 s). */
  startSkewMs?: number;
  /** Full certificate checks (certificates not cached yet) per source address and in all (default 2/s burst 10; 50/s burst 100). */
  certCheckRation?: RationOptions;
  /** Signatures that failed, per source address and in all; beyond it signed frames are dropped unchecked (default 5/s burst 20; 100/s burst 200). */
  badSignatureRation?: RationOptions;
}

/** Where to send: an underlay or overlay address, and the prefix we expect there when known. */
export interface PeerAddress {
  host: string;
  port: number;
  /** Expected peer prefix: the frame names it as recipient and replies must come from it. */
  prefix?: string;
}

/** The authenticated sender of a received message. */
export interface PeerSource {
  prefix: string;
  serial: string;
  host: string;
  port: number;
}

export interface Incoming<M extends PeerMessage = PeerMessage> {
  from: PeerSource;
  msg: M;
  /** Set when the sender expects a reply (answer with reply()). */
  requestId?: number;
  inReplyTo?: number;
}

export interface HelloEvent extends Incoming<HelloMessage> {
  /** Round trip on our own clock, when the hello echoes one of ours. */
  rttMs?: number;
}

export interface NetworkConfigEvent {
  from: PeerSource;
  version: number;
  /** The reassembled bytes as the sender passed them to sendNetworkConfig. */
  bytes: Buffer;
}

export type PeerProtocolEvents = { [K in MessageKind]: K extends 'hello' ? HelloEvent : Incoming<MessageOf<K>> } & {
  'network-config': NetworkConfigEvent;
  /**
   * Every frame that passed authentication and replay checks, of any kind, before
   * it is dispatched: proof that the sender is alive and reached us from `from`.
   */
  authenticated: Incoming;
};

export type RequestHandler<K extends MessageKind> = (
  ev: Incoming<MessageOf<K>>,
) => PeerMessage | undefined | Promise<PeerMessage | undefined>;

export interface PeerProtoStats {
  received: number;
  accepted: number;
  /** Of those, frames that came with a link MAC. */
  acceptedMac: number;
  sent: number;
  /** Of those, frames authenticated by a link MAC instead of a signature. */
  sentMac: number;
  sendErrors: number;
  handlerErrors: number;
  dropped: {
    /** Larger than 1280 bytes. */
    oversize: number;
    /** Not a frame we can decode (WireDecodeError), including unknown kinds. */
    malformed: number;
    /** Unknown sender, bad or revoked certificate, prefix mismatch, bad signature or link MAC, no link key. */
    unauthenticated: number;
    /** Seen before, timestamp outside the window, too far behind the sender's newest, or from a run of the sender before its restart. */
    replayed: number;
    /** Addressed to another prefix, or from ourselves. */
    misaddressed: number;
    /** A reply to no request of ours (late, or from the wrong prefix). */
    unsolicited: number;
    /** Not checked: the source address spent its budget of full certificate checks or of bad signatures. */
    rateLimited: number;
    /** A hello from an address not confirmed yet whose answer would be larger than it (the address may be spoofed). */
    unconfirmed: number;
  };
  /** Every refusal by its precise reason (each also counts in one `dropped` category). */
  refusals: Partial<Record<Refusal, number>>;
  /** Hellos from an address not confirmed yet, answered with a challenge (a reply that asks for an answer). */
  challengesSent: number;
  /** Addresses confirmed by an authenticated round trip. */
  endpointsConfirmed: number;
  cachedPeers: number;
  /** Link keys derived and cached. */
  linkKeys: number;
}

interface CachedCert extends VerifiedPeerCert {
  certDer: Buffer;
  fingerprint: Buffer;
  checkedAtMs: number;
  /** LINK_FLAGS the peer's latest frame told us (a MAC'd frame: both). */
  link: number;
  /** The link key made with this certificate, once derived (saves the LinkKeys lookup per frame). */
  linkKey?: LinkKey;
}

/** Why a frame was refused, and the `dropped` category it counts in. */
export const REFUSALS = {
  oversize: 'oversize',
  malformed: 'malformed',
  'from-self': 'misaddressed',
  'not-for-us': 'misaddressed',
  'outside-window': 'replayed',
  'before-start': 'replayed',
  'seen-before': 'replayed',
  'behind-window': 'replayed',
  'earlier-run': 'replayed',
  'mac-on-first-contact': 'unauthenticated',
  'unknown-sender': 'unauthenticated',
  'cert-refused': 'unauthenticated',
  'cert-for-other-prefix': 'unauthenticated',
  'bad-signature': 'unauthenticated',
  'bad-mac': 'unauthenticated',
  'no-link-key': 'unauthenticated',
  'cert-checks-rate-limited': 'rateLimited',
  'bad-signatures-rate-limited': 'rateLimited',
  'reply-larger-than-request': 'unconfirmed',
  'unconfirmed-hello': 'unconfirmed',
  unsolicited: 'unsolicited',
} as const satisfies Record<string, keyof PeerProtoStats['dropped']>;

export type Refusal = keyof typeof REFUSALS;

const REPLAY_REFUSALS = { stale: 'outside-window', replayed: 'seen-before', behind: 'behind-window', 'earlier-run': 'earlier-run' } as const satisfies Record<Exclude<ReplayVerdict, 'fresh'>, Refusal>;

interface Pending {
  expectPrefix: string | undefined;
  /** endpointKey of where the request went: a reply from there confirms it. */
  endpoint: string;
  resolve(ev: Incoming): void;
  reject(err: unknown): void;
}

type Listener = (ev: never) => unknown;

// A reach check may be the first contact (a peer known from the registry only), and its probe may overtake the reply.
const KINDS_WITH_CERT: ReadonlySet<MessageKind> = new Set(['hello', 'tunnel-request', 'punch-request', 'reach-request', 'reach-probe']);
/** A tunnel (or punch) request opens resources on the peer's side: it stays signed, whatever the link. */
const KINDS_SIGNED_ALWAYS: ReadonlySet<MessageKind> = new Set(['tunnel-request', 'punch-request']);
/** Requests that open a tunnel end: a failed or missing handler answers with tunnel-refuse. */
const KINDS_OPENING_TUNNELS: ReadonlySet<MessageKind> = new Set(['tunnel-request', 'punch-request']);
const LINK_BOTH = LINK_FLAGS.macCapable | LINK_FLAGS.holdsYourCert;
const MAX_REPLY_CACHE = 1024;
/** Challenges outstanding (hellos from unconfirmed addresses); the oldest is forgotten first. */
const MAX_CHALLENGES = 1024;
/** Addresses remembered per peer as confirmed. */
const CONFIRMED_PER_PEER = 8;
/** A reply's offset is at most a round trip off; this much more is allowed before our start. */
const START_MARGIN_MS = 1000;
const DEFAULT_CERT_CHECK_RATION: RationOptions = { perSourcePerSec: 2, perSourceBurst: 10, totalPerSec: 50, totalBurst: 100 };
const DEFAULT_BAD_SIGNATURE_RATION: RationOptions = { perSourcePerSec: 5, perSourceBurst: 20, totalPerSec: 100, totalBurst: 200 };

/** A request (or challenge) of ours that a received frame answers. */
interface AnsweredRequest {
  prefix: string;
  /** endpointKey of where ours went. */
  endpoint: string;
  challenge: boolean;
}

interface Challenge {
  prefix: string;
  endpoint: string;
  atMs: number;
}

export class PeerProtocol {
  private readonly opts: Required<PeerProtocolOptions>;
  private readonly replay: ReplayGuard;
  private readonly linkKeys: LinkKeys | undefined;
  private readonly assembler: ConfigAssembler;
  private readonly certs = new Map<string, CachedCert>();
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly handlers = new Map<MessageKind, RequestHandler<MessageKind>>();
  private readonly pending = new Map<number, Pending>();
  private readonly replyCache = new Map<string, { atMs: number; reply: Promise<PeerMessage | undefined> }>();
  private readonly counters: PeerProtoStats;
  /** Received requests that carried a certificate: the sender may not know ours yet, so the reply carries it. */
  private readonly certBearing = new WeakSet<Incoming>();
  /** Hello requests from unconfirmed addresses: they get a challenge and no event until it is answered. */
  private readonly held = new WeakSet<Incoming>();
  private readonly challenges = new Map<number, Challenge>();
  private readonly confirmed: ConfirmedEndpoints;
  private readonly floor: StartFloor;
  private readonly certChecks: SourceRation;
  private readonly badSignatures: SourceRation;
  private socket: UdpSocket | undefined;
  private seq = 0;
  private nextRequestId = randomInt(1, 2 ** 31);

  constructor(
    private readonly deps: PeerProtocolDeps,
    options: PeerProtocolOptions = {},
  ) {
    this.opts = {
      replayWindowMs: options.replayWindowMs ?? 300_000,
      replaySeqWindow: options.replaySeqWindow ?? 8192,
      maxLinkKeys: options.maxLinkKeys ?? 1024,
      maxCachedPeers: options.maxCachedPeers ?? 10_000,
      certRecheckMs: options.certRecheckMs ?? 3_600_000,
      configReassemblyMs: options.configReassemblyMs ?? 30_000,
      replyCacheMs: options.replyCacheMs ?? 30_000,
      startedAtMs: options.startedAtMs ?? deps.clock.nowMs(),
      startSkewMs: options.startSkewMs ?? 10_000,
      certCheckRation: options.certCheckRation ?? DEFAULT_CERT_CHECK_RATION,
      badSignatureRation: options.badSignatureRation ?? DEFAULT_BAD_SIGNATURE_RATION,
    };
    this.confirmed = new ConfirmedEndpoints({ maxPeers: this.opts.maxCachedPeers, maxPerPeer: CONFIRMED_PER_PEER });
    this.floor = new StartFloor({ startedAtMs: this.opts.startedAtMs, skewMs: this.opts.startSkewMs, marginMs: START_MARGIN_MS, maxSenders: this.opts.maxCachedPeers });
    this.certChecks = new SourceRation(this.opts.certCheckRation);
    this.badSignatures = new SourceRation(this.opts.badSignatureRation);
    this.replay = new ReplayGuard({ windowMs: this.opts.replayWindowMs, seqWindow: this.opts.replaySeqWindow, maxSenders: this.opts.maxCachedPeers });
    const privateKey = deps.self.privateKey;
    this.linkKeys = privateKey && new LinkKeys({ privateKey, certDer: deps.self.certDer }, { maxKeys: this.opts.maxLinkKeys });
    this.assembler = new ConfigAssembler({ timeoutMs: this.opts.configReassemblyMs, maxAssemblies: 16 });
    this.counters = {
      received: 0,
      accepted: 0,
      acceptedMac: 0,
      sent: 0,
      sentMac: 0,
      sendErrors: 0,
      handlerErrors: 0,
      dropped: { oversize: 0, malformed: 0, unauthenticated: 0, replayed: 0, misaddressed: 0, unsolicited: 0, rateLimited: 0, unconfirmed: 0 },
      refusals: {},
      challengesSent: 0,
      endpointsConfirmed: 0,
      cachedPeers: 0,
      linkKeys: 0,
    };
  }

  /** Binds the UDP port (default host "::", dual stack). Aborting `signal` stops the endpoint. */
  async start(options: { port: number; host?: string; signal?: AbortSignal }): Promise<UdpEndpoint> {
    if (this.socket !== undefined) throw new PeerProtoError('RN_PEERPROTO_NOT_RUNNING', 'peer protocol already started');
    const socket = (this.deps.socketFactory ?? dgramSocketFactory)();
    const host = options.host ?? '::';
    let bound: UdpEndpoint;
    try {
      bound = await socket.bind(options.port, host);
    } catch (err) {
      await socket.close();
      throw new PeerProtoError('RN_PEERPROTO_BIND', `cannot bind the peer-protocol port: udp [${host}]:${options.port} (${(err as Error).message}). Is another resilnet daemon running, or is underlay.port taken?`, { cause: err });
    }
    socket.onMessage((data, from) => this.receive(data, from));
    socket.onError((err) => this.deps.log.warn({ err }, 'peer protocol socket error'));
    this.socket = socket;
    options.signal?.addEventListener('abort', () => void this.stop(), { once: true });
    this.deps.log.info({ remote: `[${bound.host}]:${bound.port}` }, 'peer protocol listening');
    return bound;
  }

  /** Closes the socket; pending requests fail with RN_PEERPROTO_NOT_RUNNING. */
  async stop(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.reject(new PeerProtoError('RN_PEERPROTO_NOT_RUNNING', 'peer protocol stopped before the reply came'));
    }
    if (socket !== undefined) await socket.close();
  }

  /** Subscribes to a kind of received message (or 'network-config'); returns the unsubscribe function. */
  on<E extends keyof PeerProtocolEvents>(event: E, listener: (ev: PeerProtocolEvents[E]) => unknown): () => void {
    let set = this.listeners.get(event);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener as Listener);
    return () => set.delete(listener as Listener);
  }

  /**
   * Answers requests of one kind: the returned message goes back to the sender
   * (undefined: no answer). A thrown error is logged; a tunnel-request then gets
   * tunnel-refuse 'error'. Without a handler, a tunnel-request is refused with
   * 'unsupported' and other requests are emitted as events (answer with reply()).
   */
  setHandler<K extends MessageKind>(kind: K, handler: RequestHandler<K>): void {
    this.handlers.set(kind, handler as unknown as RequestHandler<MessageKind>);
  }

  /**
   * `via`: send from another socket than the peer-protocol one (a reach probe goes out
   * from a fresh port, so no NAT state of our earlier exchanges can let it through).
   */
  async send(to: PeerAddress, msg: PeerMessage, options: { requestId?: number; inReplyTo?: number; withCert?: boolean; via?: Pick<UdpSocket, 'send'> } = {}): Promise<void> {
    await this.transmit(to, msg, options);
  }

  /** send(), and with `maxBytes` (a reply to an unconfirmed address) nothing larger: refused and counted instead. */
  private async transmit(to: PeerAddress, msg: PeerMessage, options: { requestId?: number; inReplyTo?: number; withCert?: boolean; maxBytes?: number; via?: Pick<UdpSocket, 'send'> }): Promise<void> {
    const socket = this.socket === undefined ? undefined : (options.via ?? this.socket);
    if (socket === undefined) throw new PeerProtoError('RN_PEERPROTO_NOT_RUNNING', 'cannot send a peer message: the peer protocol is not running');
    const peer = to.prefix === undefined ? undefined : this.certs.get(to.prefix);
    const peerLink = peer?.link ?? 0;
    // A peer that speaks link MACs but told us it lacks our certificate gets it with our next hello.
    const needsOurCert = this.linkKeys !== undefined && msg.kind === 'hello' && peerLink === LINK_FLAGS.macCapable;
    const withCert = (options.withCert ?? KINDS_WITH_CERT.has(msg.kind)) || needsOurCert;
    const key = !withCert && peerLink === LINK_BOTH && !KINDS_SIGNED_ALWAYS.has(msg.kind) ? this.linkKeyFor(peer!) : undefined;
    this.seq = (this.seq + 1) >>> 0;
    const packet: Packet = { sender: this.deps.self.prefix, recipient: to.prefix, timestampMs: Math.floor(this.deps.clock.nowMs()), seq: this.seq, message: msg };
    if (withCert) packet.certDer = this.deps.self.certDer;
    if (options.requestId !== undefined) packet.requestId = options.requestId;
    if (options.inReplyTo !== undefined) packet.inReplyTo = options.inReplyTo;
    // A hello request is padded to the largest datagram, so the answer of a node that does not know our address yet always fits in it.
    if (msg.kind === 'hello' && options.requestId !== undefined && options.inReplyTo === undefined) packet.padToBytes = MAX_MESSAGE_BYTES;
    // Signed frames say what we can do with link MACs; a MAC'd one says it by being one.
    if (key === undefined && this.linkKeys !== undefined) packet.linkFlags = LINK_FLAGS.macCapable | (peer !== undefined ? LINK_FLAGS.holdsYourCert : 0);
    const bytes = key !== undefined ? encodePacket(packet, (data) => linkTag(key, data), 'mac') : encodePacket(packet, (data) => this.deps.self.sign(data));
    if (options.maxBytes !== undefined && bytes.length > options.maxBytes) {
      return this.drop('reply-larger-than-request', to, { peer: to.prefix, kind: msg.kind, bytes: bytes.length, requestBytes: options.maxBytes });
    }
    if (this.deps.log.isLevelEnabled?.('trace') !== false) this.deps.log.trace(
      { dir: 'out', kind: msg.kind, peer: to.prefix, remote: endpointText(to), bytes: bytes.length, auth: key !== undefined ? 'mac' : 'signature', requestId: options.requestId, inReplyTo: options.inReplyTo, message: traceView(msg) },
      'peer message',
    );
    try {
      await socket.send(bytes, { host: to.host, port: to.port });
      this.counters.sent++;
      if (key !== undefined) this.counters.sentMac++;
    } catch (err) {
      this.counters.sendErrors++;
      // The errno (ENETUNREACH, EPERM, …) lets callers tell a failure of this host from one of the peer.
      const errno = (err as NodeJS.ErrnoException).code;
      throw new PeerProtoError('RN_PEERPROTO_SEND', `cannot send a peer message to ${endpointText(to)} (${(err as Error).message})`, {
        cause: err,
        details: { peer: to.prefix, remote: endpointText(to), kind: msg.kind, ...(errno !== undefined ? { errno } : {}) },
      });
    }
  }

  /**
   * Sends a request and resolves with the reply. Each attempt waits timeoutMs;
   * retries carry the same request id, so the receiver answers them from its
   * reply cache instead of acting twice. Rejects with RN_PEERPROTO_TIMEOUT.
   */
  async request(to: PeerAddress, msg: PeerMessage, options: { timeoutMs: number; attempts?: number; signal?: AbortSignal }): Promise<Incoming> {
    const requestId = this.takeRequestId();
    const attempts = Math.max(1, options.attempts ?? 1);
    return new Promise<Incoming>((resolve, reject) => {
      let cancelTimer: () => void = () => {};
      const onAbort = (): void => finish(() => reject(options.signal?.reason ?? new Error('aborted')));
      const finish = (then: () => void): void => {
        cancelTimer();
        this.pending.delete(requestId);
        options.signal?.removeEventListener('abort', onAbort);
        then();
      };
      this.pending.set(requestId, {
        expectPrefix: to.prefix,
        endpoint: endpointKey(to),
        resolve: (ev) => finish(() => resolve(ev)),
        reject: (err) => finish(() => reject(err)),
      });
      if (options.signal?.aborted) return onAbort();
      options.signal?.addEventListener('abort', onAbort, { once: true });
      const attempt = (n: number): void => {
        cancelTimer = this.deps.clock.setTimeout(() => {
          if (n < attempts) return attempt(n + 1);
          finish(() =>
            reject(
              new PeerProtoError('RN_PEERPROTO_TIMEOUT', `no reply from ${to.prefix ?? 'peer'} at ${endpointText(to)} to ${msg.kind} within ${options.timeoutMs} ms (${attempts} attempt${attempts > 1 ? 's' : ''}). Is the peer running and its underlay port reachable?`, {
                details: { peer: to.prefix, remote: endpointText(to), kind: msg.kind },
              }),
            ),
          );
        }, options.timeoutMs);
        this.send(to, msg, { requestId }).catch((err: unknown) => {
          if (this.pending.has(requestId)) finish(() => reject(err));
        });
      };
      attempt(1);
    });
  }

  private takeRequestId(): number {
    const id = this.nextRequestId;
    this.nextRequestId = this.nextRequestId >= 0xffffffff ? 1 : this.nextRequestId + 1;
    return id;
  }

  /** Answers a received request (for requests handled in an event listener). */
  reply(to: Incoming, msg: PeerMessage): Promise<void> {
    if (to.requestId === undefined) return Promise.resolve();
    return this.send({ host: to.from.host, port: to.from.port, prefix: to.from.prefix }, msg, {
      inReplyTo: to.requestId,
      withCert: this.certBearing.has(to) || KINDS_WITH_CERT.has(msg.kind),
    });
  }

  /** Hello round trip: resolves with the RTT measured from the echoed timestamp. */
  async hello(to: PeerAddress, options: { timeoutMs: number; attempts?: number; signal?: AbortSignal }): Promise<{ from: PeerSource; rttMs: number }> {
    const msg = this.helloMessage(undefined);
    const ev = await this.request(to, msg, options);
    const echoed = ev.msg.kind === 'hello' ? ev.msg.yourTimestampMs : undefined;
    return { from: ev.from, rttMs: echoed === undefined ? 0 : Math.max(0, this.deps.clock.nowMs() - echoed) };
  }

  /** Sends a (signed, CA-signed inside) network config as chunks. */
  async sendNetworkConfig(to: PeerAddress, version: number, bytes: Buffer): Promise<void> {
    for (const chunk of chunkNetworkConfig(version, bytes)) await this.send(to, chunk);
  }

  /** Re-checks every cached certificate (call after a CRL change); returns the prefixes dropped. */
  revalidateCerts(): string[] {
    const dropped: string[] = [];
    for (const [prefix, c] of this.certs) {
      try {
        this.deps.verifyPeerCert(c.certDer);
        c.checkedAtMs = this.deps.clock.nowMs();
      } catch (err) {
        this.dropCert(prefix);
        dropped.push(prefix);
        this.deps.log.info({ peer: prefix, err }, 'peer certificate no longer valid');
      }
    }
    return dropped;
  }

  /** Forgets a peer's certificate (it must send a hello again) and the addresses it confirmed. */
  forgetPeer(prefix: string): void {
    this.dropCert(prefix);
    this.confirmed.forget(prefix);
    this.replay.forget(prefix);
  }

  /**
   * True when frames to this peer go with a link MAC: it speaks them and told us
   * it holds our certificate, so it needs no certificate from us.
   */
  hasLinkKey(prefix: string): boolean {
    return this.linkKeys !== undefined && this.certs.get(prefix)?.link === LINK_BOTH;
  }

  /** Peers whose certificate is cached. */
  knownPeers(): { prefix: string; serial: string }[] {
    return [...this.certs.values()].map((c) => ({ prefix: c.prefix, serial: c.serial }));
  }

  stats(): PeerProtoStats {
    return { ...this.counters, dropped: { ...this.counters.dropped }, refusals: { ...this.counters.refusals }, cachedPeers: this.certs.size, linkKeys: this.linkKeys?.size ?? 0 };
  }

  // ---- receive path ------------------------------------------------------

  private receive(data: Buffer, remote: UdpEndpoint): void {
    this.counters.received++;
    try {
      this.receiveUnsafe(data, remote);
    } catch (err) {
      // Should be impossible; still never let it reach the socket.
      this.counters.dropped.malformed++;
      this.deps.log.warn({ err, remote: endpointText(remote), unexpected: true }, 'peer message dropped');
    }
  }

  private drop(refusal: Refusal, remote: UdpEndpoint, fields: object = {}): void {
    const reason = REFUSALS[refusal];
    this.counters.dropped[reason]++;
    this.counters.refusals[refusal] = (this.counters.refusals[refusal] ?? 0) + 1;
    this.deps.log.debug({ reason, why: refusal, remote: endpointText(remote), ...fields }, 'peer message dropped');
  }

  /**
   * Cheapest checks first, so that refusing costs little: size, decoding,
   * addressing, timestamps and the nonce cache need no crypto; a certificate
   * already verified (ours by prefix, or the verifier's by fingerprint) costs a
   * lookup; full certificate checks and signatures that fail are rationed per
   * source address (SourceRation).
   */
  private receiveUnsafe(data: Buffer, remote: UdpEndpoint): void {
    const nowMs = this.deps.clock.nowMs();
    if (data.length > MAX_MESSAGE_BYTES) return this.drop('oversize', remote, { bytes: data.length });
    let packet: DecodedPacket;
    try {
      packet = decodePacket(data);
    } catch (err) {
      if (err instanceof WireDecodeError) return this.drop('malformed', remote, { code: err.code, offset: err.offset, tlvType: err.tlvType });
      throw err;
    }
    const peer = packet.sender;
    if (peer === this.deps.self.prefix) return this.drop('from-self', remote, { peer });
    if (packet.recipient === undefined ? packet.message.kind !== 'hello' : packet.recipient !== this.deps.self.prefix) {
      return this.drop('not-for-us', remote, { peer, recipient: packet.recipient ?? 'anyone' });
    }
    if (!this.replay.inWindow(packet.timestampMs, nowMs)) {
      return this.drop('outside-window', remote, { peer, skewMs: nowMs - packet.timestampMs });
    }
    // A reply to a request of this process is fresh whatever its timestamp says; anything else must postdate our start.
    const answered = this.answeredRequest(packet, remote);
    if (answered === undefined && !this.floor.allows(peer, packet.timestampMs)) {
      return this.drop('before-start', remote, { peer, floorMs: this.floor.floorMs(peer), timestampMs: packet.timestampMs });
    }
    if (packet.auth === 'mac' && (packet.certDer !== undefined || packet.recipient === undefined)) {
      // A frame that introduces its sender, or goes to anyone, must be signed.
      return this.drop('mac-on-first-contact', remote, { peer });
    }
    // Only authenticated frames enter the replay window, so a hit is a copy of one: no need to check it.
    if (this.replay.seen(peer, packet.timestampMs, packet.seq)) return this.drop('seen-before', remote, { peer });
    // A source that sent bad signatures lately gets no more checked (and no certificate looked up) until its budget refills.
    if (packet.auth === 'signature' && !this.maySpendOnSignatures(peer, remote, nowMs)) return this.drop('bad-signatures-rate-limited', remote, { peer });
    const cert = this.certFor(packet, nowMs, remote);
    if (cert === undefined) return;
    if (packet.auth === 'mac') {
      const key = this.linkKeyFor(cert);
      if (key === undefined) return this.drop('no-link-key', remote, { peer });
      if (!linkTagValid(key, packet.signedData, packet.signature)) return this.drop('bad-mac', remote, { peer });
    } else {
      if (!verifyBytes(cert.publicKey, packet.signedData, derSignature(packet.signature))) {
        this.badSignatures.charge(remote.host, nowMs);
        return this.drop('bad-signature', remote, { peer });
      }
      if (packet.certDer !== undefined) this.remember(cert);
    }
    const verdict = this.replay.check(peer, packet.timestampMs, packet.seq, nowMs);
    if (verdict !== 'fresh') return this.drop(REPLAY_REFUSALS[verdict], remote, { peer, seq: packet.seq });
    // Only a fresh frame tells what the peer holds now (a replayed old one would mislead).
    cert.link = packet.auth === 'mac' ? LINK_BOTH : (packet.linkFlags ?? 0) & LINK_BOTH;
    if (answered !== undefined) this.roundTrip(peer, answered.endpoint, remote, packet.timestampMs, nowMs);
    // A hello request, or a hello to anyone, from an address the sender has not proved it answers at (it may be a copy sent from anywhere).
    const introduces = packet.message.kind === 'hello' && packet.inReplyTo === undefined && (packet.requestId !== undefined || packet.recipient === undefined);
    const unconfirmed = introduces && !this.confirmed.has(peer, endpointKey(remote));
    // Without a request there is nothing to challenge: it waits for a round trip.
    if (unconfirmed && packet.requestId === undefined) return this.drop('unconfirmed-hello', remote, { peer });

    this.counters.accepted++;
    if (packet.auth === 'mac') this.counters.acceptedMac++;
    const from: PeerSource = { prefix: peer, serial: cert.serial, host: remote.host, port: remote.port };
    const ev: Incoming = { from, msg: packet.message };
    if (packet.requestId !== undefined) ev.requestId = packet.requestId;
    if (packet.inReplyTo !== undefined) ev.inReplyTo = packet.inReplyTo;
    // A request that introduced its sender gets our certificate back, unless it said it holds it.
    if (packet.certDer !== undefined && ((packet.linkFlags ?? 0) & LINK_FLAGS.holdsYourCert) === 0) this.certBearing.add(ev);
    if (unconfirmed) this.held.add(ev);
    if (this.deps.log.isLevelEnabled?.('trace') !== false) this.deps.log.trace(
      { dir: 'in', kind: packet.message.kind, peer, remote: endpointText(remote), bytes: data.length, requestId: packet.requestId, inReplyTo: packet.inReplyTo, message: traceView(packet.message) },
      'peer message',
    );
    this.emit('authenticated', ev);
    this.dispatch(ev, nowMs, data.length, answered);
  }

  /** Past the budget shared by all sources, only addresses the sender confirmed are still checked. */
  private maySpendOnSignatures(peer: string, remote: UdpEndpoint, nowMs: number): boolean {
    return this.badSignatures.has(remote.host, nowMs) || this.badSignatures.has(remote.host, nowMs, this.confirmed.has(peer, endpointKey(remote)));
  }

  /** The request or challenge of ours this frame answers (matched by id and by where it went), if any. */
  private answeredRequest(packet: DecodedPacket, remote: UdpEndpoint): AnsweredRequest | undefined {
    if (packet.inReplyTo === undefined) return undefined;
    const p = this.pending.get(packet.inReplyTo);
    if (p !== undefined && (p.expectPrefix === undefined || p.expectPrefix === packet.sender)) return { prefix: packet.sender, endpoint: p.endpoint, challenge: false };
    const c = this.challenges.get(packet.inReplyTo);
    if (c !== undefined && c.prefix === packet.sender && c.endpoint === endpointKey(remote)) return { prefix: c.prefix, endpoint: c.endpoint, challenge: true };
    return undefined;
  }

  /** An authenticated reply to a frame we sent: its clock offset, and the address it came from if that is where ours went. */
  private roundTrip(peer: string, sentTo: string, remote: UdpEndpoint, theirTimestampMs: number, nowMs: number): void {
    this.floor.learn(peer, theirTimestampMs, nowMs);
    if (sentTo !== endpointKey(remote) || this.confirmed.has(peer, sentTo)) return;
    this.confirmed.confirm(peer, sentTo);
    this.counters.endpointsConfirmed++;
  }

  /** The sender's verified certificate: from the frame or the caches (cheap), or a full check (rationed per source). */
  private certFor(packet: DecodedPacket, nowMs: number, remote: UdpEndpoint): CachedCert | undefined {
    const peer = packet.sender;
    const cached = this.certs.get(peer);
    let der = packet.certDer;
    if (der === undefined && cached === undefined) {
      this.drop('unknown-sender', remote, { peer });
      return undefined;
    }
    if (der === undefined || (cached !== undefined && cached.certDer.equals(der))) {
      if (nowMs - cached!.checkedAtMs < this.opts.certRecheckMs) return cached;
      der = cached!.certDer;
    }
    const same = cached !== undefined && cached.certDer.equals(der);
    let verified = this.deps.verifyPeerCert.peek?.(der);
    if (verified === undefined) {
      const trusted = same && this.confirmed.has(peer, endpointKey(remote));
      if (!this.certChecks.take(remote.host, nowMs, trusted)) {
        this.drop('cert-checks-rate-limited', remote, { peer });
        return undefined;
      }
      try {
        verified = this.deps.verifyPeerCert(der);
      } catch (err) {
        verified = 'refused';
        this.deps.log.debug({ peer, remote: endpointText(remote), code: (err as { code?: string }).code, err }, 'peer certificate refused');
      }
    }
    if (verified === 'refused') {
      if (same) this.dropCert(peer);
      this.drop('cert-refused', remote, { peer });
      return undefined;
    }
    if (verified.prefix !== peer) {
      this.drop('cert-for-other-prefix', remote, { peer, certificate: verified.prefix });
      return undefined;
    }
    const fresh: CachedCert = { ...verified, certDer: Buffer.from(der), fingerprint: same ? cached.fingerprint : certFingerprint(der), checkedAtMs: nowMs, link: same ? cached.link : 0 };
    if (same) this.certs.set(peer, fresh); // re-checked, same cert
    return fresh;
  }

  private remember(cert: CachedCert): void {
    const old = this.certs.get(cert.prefix);
    if (old === undefined && this.certs.size >= this.opts.maxCachedPeers) {
      const oldest = this.certs.keys().next().value;
      if (oldest !== undefined) this.dropCert(oldest);
    }
    if (old !== undefined && old.certDer !== cert.certDer && !old.certDer.equals(cert.certDer)) this.linkKeys?.forget(old.fingerprint);
    this.certs.delete(cert.prefix);
    this.certs.set(cert.prefix, cert);
  }

  /** Forgets a peer's certificate and the link key made with it. */
  private dropCert(prefix: string): void {
    const cached = this.certs.get(prefix);
    if (cached === undefined) return;
    this.certs.delete(prefix);
    this.linkKeys?.forget(cached.fingerprint);
  }

  private linkKeyFor(cert: CachedCert): LinkKey | undefined {
    if (cert.linkKey !== undefined) return cert.linkKey;
    const key = this.linkKeys?.keyFor(cert.fingerprint, cert.publicKey);
    // Kept on the cached certificate only: dropping or replacing it (dropCert, remember) forgets the key with it.
    if (key !== undefined && this.certs.get(cert.prefix) === cert) cert.linkKey = key;
    return key;
  }

  private dispatch(ev: Incoming, nowMs: number, requestBytes: number, answered: AnsweredRequest | undefined): void {
    const msg = ev.msg;
    if (ev.inReplyTo !== undefined) {
      if (answered?.challenge === true) {
        // Our challenge answered from where it went: the address is confirmed, the hello counts now.
        this.challenges.delete(ev.inReplyTo);
        if (msg.kind === 'hello') this.emit('hello', this.helloEvent(ev as Incoming<HelloMessage>, nowMs));
        return;
      }
      if (answered !== undefined) this.pending.get(ev.inReplyTo)?.resolve(ev);
      if (msg.kind === 'hello') {
        // A reply that challenges us back (it does not know our address yet): answered, since we asked.
        if (answered !== undefined && ev.requestId !== undefined) this.answer(ev, this.helloMessage(msg.myTimestampMs));
        if (this.confirmed.has(ev.from.prefix, endpointKey(ev.from))) return this.emit('hello', this.helloEvent(ev as Incoming<HelloMessage>, nowMs));
      }
      if (answered === undefined) this.drop('unsolicited', ev.from, { peer: ev.from.prefix, kind: msg.kind, inReplyTo: ev.inReplyTo });
      return;
    }
    if (msg.kind === 'hello') {
      if (this.held.has(ev)) return this.challenge(ev as Incoming<HelloMessage>, requestBytes, nowMs);
      if (ev.requestId !== undefined) this.answer(ev, this.helloMessage(msg.myTimestampMs));
      return this.emit('hello', this.helloEvent(ev as Incoming<HelloMessage>, nowMs));
    }
    if (msg.kind === 'config-chunk') {
      const whole = this.assembler.add(ev.from.prefix, msg, nowMs);
      this.emit('config-chunk', ev as Incoming<MessageOf<'config-chunk'>>);
      if (whole !== undefined) this.emit('network-config', { from: ev.from, version: whole.version, bytes: whole.bytes });
      return;
    }
    const handler = this.handlers.get(msg.kind);
    if (ev.requestId !== undefined && handler !== undefined) return this.handle(ev, handler, nowMs);
    if (ev.requestId !== undefined && KINDS_OPENING_TUNNELS.has(msg.kind)) {
      return this.answer(ev, { kind: 'tunnel-refuse', reason: 'unsupported' });
    }
    this.emit(msg.kind, ev as never);
  }

  private handle(ev: Incoming, handler: RequestHandler<MessageKind>, nowMs: number): void {
    for (const [key, r] of this.replyCache) if (nowMs - r.atMs > this.opts.replyCacheMs) this.replyCache.delete(key);
    const key = `${ev.from.prefix} ${ev.requestId}`;
    let cached = this.replyCache.get(key);
    if (cached === undefined) {
      const reply = Promise.resolve()
        .then(() => handler(ev as never))
        .catch((err: unknown): PeerMessage | undefined => {
          this.counters.handlerErrors++;
          this.deps.log.warn({ err, peer: ev.from.prefix, kind: ev.msg.kind }, 'peer request handler failed');
          return KINDS_OPENING_TUNNELS.has(ev.msg.kind) ? { kind: 'tunnel-refuse', reason: 'error' } : undefined;
        });
      cached = { atMs: nowMs, reply };
      if (this.replyCache.size >= MAX_REPLY_CACHE) {
        const oldest = this.replyCache.keys().next().value;
        if (oldest !== undefined) this.replyCache.delete(oldest);
      }
      this.replyCache.set(key, cached);
    }
    void cached.reply.then((msg) => {
      if (msg !== undefined) this.answer(ev, msg);
    });
  }

  /**
   * A hello request from an address its sender has not confirmed: the answer
   * asks for an answer in turn, is no larger than the request, and the hello
   * event waits until the answer comes back from that address.
   */
  private challenge(ev: Incoming<HelloMessage>, requestBytes: number, nowMs: number): void {
    for (const [id, c] of this.challenges) {
      if (nowMs - c.atMs <= this.opts.replyCacheMs && this.challenges.size < MAX_CHALLENGES) break;
      this.challenges.delete(id);
    }
    const id = this.takeRequestId();
    this.challenges.set(id, { prefix: ev.from.prefix, endpoint: endpointKey(ev.from), atMs: nowMs });
    this.counters.challengesSent++;
    this.transmit({ host: ev.from.host, port: ev.from.port, prefix: ev.from.prefix }, this.helloMessage(ev.msg.myTimestampMs), {
      inReplyTo: ev.requestId!,
      requestId: id,
      withCert: this.certBearing.has(ev),
      maxBytes: requestBytes,
    }).catch((err: unknown) => this.deps.log.debug({ err, peer: ev.from.prefix }, 'hello challenge not sent'));
  }

  private answer(ev: Incoming, msg: PeerMessage): void {
    this.reply(ev, msg).catch((err: unknown) => this.deps.log.debug({ err, peer: ev.from.prefix }, 'peer reply not sent'));
  }

  private helloMessage(yourTimestampMs: number | undefined): HelloMessage {
    const m: HelloMessage = { kind: 'hello', myTimestampMs: Math.floor(this.deps.clock.nowMs()) };
    if (yourTimestampMs !== undefined) m.yourTimestampMs = yourTimestampMs;
    const cv = this.deps.configVersion?.();
    if (cv !== undefined) m.configVersion = cv;
    return m;
  }

  private helloEvent(ev: Incoming<HelloMessage>, nowMs: number): HelloEvent {
    const echoed = ev.msg.yourTimestampMs;
    // Only an echo of a timestamp from the past on our own clock is a round trip.
    return echoed !== undefined && echoed <= nowMs ? { ...ev, rttMs: nowMs - echoed } : ev;
  }

  private emit<E extends keyof PeerProtocolEvents>(event: E, ev: PeerProtocolEvents[E]): void {
    for (const listener of this.listeners.get(event) ?? []) {
      try {
        const result = (listener as (e: PeerProtocolEvents[E]) => unknown)(ev);
        if (result instanceof Promise) {
          result.catch((err: unknown) => this.deps.log.warn({ err, event }, 'peer protocol listener failed'));
        }
      } catch (err) {
        this.deps.log.warn({ err, event }, 'peer protocol listener failed');
      }
    }
  }
}

function endpointText(e: { host: string; port: number }): string {
  return e.host.includes(':') ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`;
}

/** Message fields for trace logs: binary payloads shown by size and digest. */
function traceView(msg: PeerMessage): object {
  if (msg.kind !== 'config-chunk') return msg;
  return { ...msg, bytes: `${msg.bytes.length} bytes sha256:${createHash('sha256').update(msg.bytes).digest('hex').slice(0, 16)}` };
}
