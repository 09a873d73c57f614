// Peer-protocol messages: one encode/decode pair per kind, over the frame in
// wire/tlv.ts. Pure. Field TLV types are per kind (0x01–0xef); the common items
// below (0xf0–0xff) may ride in any kind. docs/peer-protocol.md has the tables.
import { isPeerAddress } from '../config/peer-address.js';
import { WireDecodeError, WireEncodeError } from './errors.js';
import {
  ENVELOPE_BYTES,
  ITEM_HEADER_BYTES,
  MAC_TAG_BYTES,
  MAX_DER_SIGNATURE_BYTES,
  MAX_MESSAGE_BYTES,
  PREFIX_BYTES,
  SIGNATURE_BYTES,
  ValueReader,
  decodeFrame,
  encodeFrame,
  endpointBytes,
  item,
  prefixBytes,
  u16,
  u32,
  u64,
  u8,
  type FrameAuth,
  type Signer,
  type TlvItem,
} from './tlv.js';

export const MESSAGE_KINDS = {
  hello: 1,
  addresses: 2,
  'peer-list': 3,
  'config-chunk': 4,
  'tunnel-request': 5,
  'tunnel-accept': 6,
  'tunnel-refuse': 7,
  drain: 8,
  'punch-request': 9,
  'punch-accept': 10,
  'reach-request': 11,
  'reach-probe': 12,
  'reach-reply': 13,
} as const;

export type MessageKind = keyof typeof MESSAGE_KINDS;

const KIND_BY_CODE: ReadonlyMap<number, MessageKind> = new Map<number, MessageKind>(
  (Object.entries(MESSAGE_KINDS) as [MessageKind, number][]).map(([k, v]) => [v, k]),
);

/** Common items, allowed in every kind. */
export const COMMON_TLV = {
  /** DER of the sender's certificate (hello and tunnel-request carry it). */
  cert: 0xf0,
  /** u32: the sender expects a reply carrying the same number in inReplyTo. */
  requestId: 0xf1,
  /** u32: this message answers the request with that id. */
  inReplyTo: 0xf2,
  /** u8 LINK_FLAGS: what the sender can do with link MACs (signed frames only). */
  link: 0xf3,
  /** Zero bytes that make a hello request as large as any answer to it (ignored on receipt). */
  pad: 0xf4,
} as const;

/** Bits of the `link` item. */
export const LINK_FLAGS = {
  /** The sender accepts and sends link-MAC frames (wire version 2). */
  macCapable: 1,
  /** The sender holds the recipient's certificate, so it has the link key already. */
  holdsYourCert: 2,
} as const;

/** "my"/"your" timestamps: the echo of the peer's own timestamp gives the RTT on its clock alone. */
export interface HelloMessage {
  kind: 'hello';
  myTimestampMs: number;
  /** The peer's myTimestampMs being echoed; absent in a first hello. */
  yourTimestampMs?: number;
  /** Version of the signed network config the sender holds. */
  configVersion?: number;
  /** How late the sender's own timers ran lately (ms): the receiver waits that much longer before calling it silent. */
  lateMs?: number;
  /**
   * The sender counts every packet that comes over the tunnel as a sign of the link's life
   * (link hellos sent over a tunnel only): bare link beats will do instead of most hellos.
   */
  takesBeats?: boolean;
  /**
   * Before it calls the link lost, the sender probes (hellos with `probe`, which the receiver
   * answers at once): one missed beat is not a verdict, so beats to it may come every other interval.
   */
  probes?: boolean;
  /** This hello is a probe: the link is silent on the sender's side; answer with a signed hello now. */
  probe?: boolean;
  /**
   * The sender's traffic crosses the link: answer now (echoing `myTimestampMs`), then beat
   * every fifth of an interval while its packets keep arriving; it watches the link that closely.
   */
  busy?: boolean;
  /**
   * The sender judges an idle link (one not watched closely) by a deadline this many times the
   * usual one (2–16): beats to it may come that much less often while the link is idle.
   */
  idlePace?: number;
}

export interface AddressesMessage {
  kind: 'addresses';
  /** "IP:PORT" (IPv6 in brackets) as seen from outside / on the LAN / mapped by UPnP. */
  public: string[];
  internal: string[];
  upnp: string[];
  /** Asks the receiver to answer with its own addresses. */
  wantReply?: boolean;
}

export interface PeerListEntry {
  prefix: string;
  addresses: string[];
}

export interface PeerListMessage {
  kind: 'peer-list';
  entries: PeerListEntry[];
  /** Asks the receiver for up to this many entries of its own. */
  requestCount?: number;
}

/** One piece of the signed network config (a JSON text that can exceed a datagram). */
export interface ConfigChunkMessage {
  kind: 'config-chunk';
  version: number;
  index: number;
  count: number;
  bytes: Buffer;
}

export type TunnelRole = 'client' | 'server';
export type TunnelProto = 'udp' | 'tcp';

/** Client asks a server to open its end of a tunnel. */
export interface TunnelRequestMessage {
  kind: 'tunnel-request';
  /** The role the requester takes (normally client). */
  role: TunnelRole;
  proto: TunnelProto;
  /**
   * The requester's NAT class, when it knows it (optional: older nodes neither send nor read
   * it). A server behind a NAT too answers with a refusal naming its own class, so the
   * requester punches at once; a public server gives way to it in a crossed request.
   */
  natClass?: WireNatClass;
}

export interface TunnelAcceptMessage {
  kind: 'tunnel-accept';
  /** Underlay port of the server's end. */
  port: number;
}

export const REFUSE_REASONS = ['full', 'duplicate', 'unsupported', 'not-allowed', 'error'] as const;
export type RefuseReason = (typeof REFUSE_REASONS)[number] | 'other';

export interface TunnelRefuseMessage {
  kind: 'tunnel-refuse';
  /** Reasons this version does not know decode as 'other'. */
  reason: RefuseReason;
  /** The refuser's NAT class, when it knows it (optional: older nodes ignore it). */
  natClass?: WireNatClass;
}

/** 'down': "my end of this tunnel just stopped (its openvpn exited or the link is lost); route around it now". */
export type DrainPhase = 'announce' | 'ack' | 'cancel' | 'down';

/** "I will close the tunnel whose server end is on tunnelPort in closeInMs." */
export interface DrainMessage {
  kind: 'drain';
  phase: DrainPhase;
  tunnelPort: number;
  closeInMs: number;
}

/** NAT classes as the wire carries them (daemon/nat/classify.ts NAT_CLASSES); codes 1…5, others decode as 'unknown'. */
export const WIRE_NAT_CLASSES = ['public', 'upnp', 'eim', 'apdm', 'unknown'] as const;
export type WireNatClass = (typeof WIRE_NAT_CLASSES)[number];

/**
 * Client asks a server, over the overlay, for a tunnel by hole punching: "my
 * tunnel end sends from `endpoint` (as a STUN server saw it); send to it from
 * your server port, then tell me where that port is mapped".
 */
export interface PunchRequestMessage {
  kind: 'punch-request';
  /** The requester's public "IP:PORT" for its client end. */
  endpoint: string;
  natClass: WireNatClass;
}

/** The server sent towards the requester from its port and listens there: its public "IP:PORT". */
export interface PunchAcceptMessage {
  kind: 'punch-accept';
  endpoint: string;
  natClass: WireNatClass;
}

/** Bytes of the nonce a reach check carries (random, so only the two peers know it). */
export const REACH_NONCE_BYTES = 16;

/**
 * "Send a reach-probe with this nonce to `endpoint`": a node asks a peer, over
 * the overlay, to check that the port its UPnP gateway mapped really reaches it.
 */
export interface ReachRequestMessage {
  kind: 'reach-request';
  /** The requester's mapped public "IP:PORT" (IPv4). */
  endpoint: string;
  nonce: Buffer;
}

/** The probe itself, sent to the mapped endpoint from a fresh socket of the peer. */
export interface ReachProbeMessage {
  kind: 'reach-probe';
  nonce: Buffer;
}

/** Codes 1…n on the wire; unknown codes decode as 'other'. */
export const REACH_OUTCOMES = ['sent', 'rate-limited', 'not-your-address', 'bad-endpoint', 'error'] as const;
export type ReachOutcome = (typeof REACH_OUTCOMES)[number] | 'other';

/** The answer to a reach-request: whether the probe went out, or why not. */
export interface ReachReplyMessage {
  kind: 'reach-reply';
  outcome: ReachOutcome;
}

export type PeerMessage =
  | HelloMessage
  | AddressesMessage
  | PeerListMessage
  | ConfigChunkMessage
  | TunnelRequestMessage
  | TunnelAcceptMessage
  | TunnelRefuseMessage
  | DrainMessage
  | PunchRequestMessage
  | PunchAcceptMessage
  | ReachRequestMessage
  | ReachProbeMessage
  | ReachReplyMessage;

export type MessageOf<K extends MessageKind> = Extract<PeerMessage, { kind: K }>;

/** A message with its envelope and common items, as sent or received. */
export interface Packet {
  sender: string;
  recipient: string | undefined;
  timestampMs: number;
  seq: number;
  certDer?: Buffer;
  requestId?: number;
  inReplyTo?: number;
  /** LINK_FLAGS bits; absent from nodes that predate link MACs. */
  linkFlags?: number;
  /** Encoding only: a pad item makes the frame this long, counting the longest signature (DER) the signer may return. */
  padToBytes?: number;
  message: PeerMessage;
}

export interface DecodedPacket extends Packet {
  /** 'signature': ECDSA by the sender; 'mac': a tag under the sender's and recipient's link key. */
  auth: FrameAuth;
  signature: Buffer;
  signedData: Buffer;
}

// ---- per-kind field types -------------------------------------------------

const HELLO = { my: 1, your: 2, configVersion: 3, lateMs: 4, takesBeats: 5, probes: 6, probe: 7, busy: 8, idlePace: 9 } as const;
/** The largest idle pace a hello may ask for: a larger one is read as this (beating more often than asked is safe). */
export const MAX_IDLE_PACE = 16;
const ADDR = { public: 1, internal: 2, upnp: 3, wantReply: 4 } as const;
const PLIST = { entry: 1, requestCount: 2 } as const;
const CHUNK = { version: 1, index: 2, count: 3, bytes: 4 } as const;
const TREQ = { role: 1, proto: 2, natClass: 3 } as const;
const TACC = { port: 1 } as const;
const TREF = { reason: 1, natClass: 2 } as const;
const DRAIN = { phase: 1, tunnelPort: 2, closeInMs: 3 } as const;
const PUNCH = { endpoint: 1, natClass: 2 } as const;
const REACH = { endpoint: 1, nonce: 2, outcome: 3 } as const;

const ROLES: readonly TunnelRole[] = ['client', 'server']; // codes 1, 2
const PROTOS: readonly TunnelProto[] = ['udp', 'tcp']; // codes 1, 2
const PHASES: readonly DrainPhase[] = ['announce', 'ack', 'cancel', 'down']; // codes 1, 2, 3, 4

/** Most config bytes one chunk may carry (leaves room for envelope and items). */
export const CONFIG_CHUNK_BYTES = 1024;
/** Reassembly refuses more chunks than this (1 MiB of config). */
export const MAX_CONFIG_CHUNKS = 1024;

export function encodeHello(m: HelloMessage): TlvItem[] {
  const items = [item(HELLO.my, u64(m.myTimestampMs))];
  if (m.yourTimestampMs !== undefined) items.push(item(HELLO.your, u64(m.yourTimestampMs)));
  if (m.configVersion !== undefined) items.push(item(HELLO.configVersion, u32(m.configVersion)));
  if (m.lateMs !== undefined) items.push(item(HELLO.lateMs, u32(m.lateMs)));
  if (m.takesBeats) items.push(item(HELLO.takesBeats, u8(1)));
  if (m.probes) items.push(item(HELLO.probes, u8(1)));
  if (m.probe) items.push(item(HELLO.probe, u8(1)));
  if (m.busy) items.push(item(HELLO.busy, u8(1)));
  if (m.idlePace !== undefined && m.idlePace >= 2) items.push(item(HELLO.idlePace, u8(Math.min(MAX_IDLE_PACE, Math.floor(m.idlePace)))));
  return items;
}

export function decodeHello(items: Fields): HelloMessage {
  const m: HelloMessage = { kind: 'hello', myTimestampMs: items.required(HELLO.my, 'my timestamp').u64() };
  const your = items.optional(HELLO.your);
  if (your) m.yourTimestampMs = your.u64();
  const cv = items.optional(HELLO.configVersion);
  if (cv) m.configVersion = cv.u32();
  const late = items.optional(HELLO.lateMs);
  if (late) m.lateMs = late.u32();
  const beats = items.optional(HELLO.takesBeats);
  if (beats && beats.u8() !== 0) m.takesBeats = true;
  const probes = items.optional(HELLO.probes);
  if (probes && probes.u8() !== 0) m.probes = true;
  const probe = items.optional(HELLO.probe);
  if (probe && probe.u8() !== 0) m.probe = true;
  const busy = items.optional(HELLO.busy);
  if (busy && busy.u8() !== 0) m.busy = true;
  const pace = items.optional(HELLO.idlePace)?.u8();
  if (pace !== undefined && pace >= 2) m.idlePace = Math.min(MAX_IDLE_PACE, pace);
  return m;
}

export function encodeAddresses(m: AddressesMessage): TlvItem[] {
  const items: TlvItem[] = [];
  for (const a of m.public) items.push(item(ADDR.public, endpointBytes(a)));
  for (const a of m.internal) items.push(item(ADDR.internal, endpointBytes(a)));
  for (const a of m.upnp) items.push(item(ADDR.upnp, endpointBytes(a)));
  if (m.wantReply) items.push(item(ADDR.wantReply, u8(1)));
  return items;
}

export function decodeAddresses(items: Fields): AddressesMessage {
  const m: AddressesMessage = {
    kind: 'addresses',
    public: items.all(ADDR.public).map((r) => r.endpoint()),
    internal: items.all(ADDR.internal).map((r) => r.endpoint()),
    upnp: items.all(ADDR.upnp).map((r) => r.endpoint()),
  };
  const want = items.optional(ADDR.wantReply);
  if (want && want.u8() !== 0) m.wantReply = true;
  return m;
}

/** An entry's value: prefix, then endpoints back to back until the value ends. */
export function encodePeerList(m: PeerListMessage): TlvItem[] {
  const items = m.entries.map((e) =>
    item(PLIST.entry, Buffer.concat([prefixBytes(e.prefix), ...e.addresses.map(endpointBytes)])),
  );
  if (m.requestCount !== undefined) items.push(item(PLIST.requestCount, u16(m.requestCount)));
  return items;
}

export function decodePeerList(items: Fields): PeerListMessage {
  const entries = items.all(PLIST.entry).map((r: FieldReader): PeerListEntry => {
    const prefix = r.prefix();
    if (prefix === undefined) return r.fail('peer-list entry without a prefix', r.position - PREFIX_BYTES);
    const addresses: string[] = [];
    while (r.remaining > 0) addresses.push(r.endpoint());
    return { prefix, addresses };
  });
  const m: PeerListMessage = { kind: 'peer-list', entries };
  const rc = items.optional(PLIST.requestCount);
  if (rc) m.requestCount = rc.u16();
  return m;
}

export function encodeConfigChunk(m: ConfigChunkMessage): TlvItem[] {
  if (m.count < 1 || m.index >= m.count || m.count > MAX_CONFIG_CHUNKS) {
    throw new WireEncodeError('RN_WIRE_BAD_FIELD', `config chunk ${m.index} of ${m.count} is out of range`);
  }
  return [
    item(CHUNK.version, u32(m.version)),
    item(CHUNK.index, u16(m.index)),
    item(CHUNK.count, u16(m.count)),
    item(CHUNK.bytes, m.bytes),
  ];
}

export function decodeConfigChunk(items: Fields): ConfigChunkMessage {
  const version = items.required(CHUNK.version, 'version').u32();
  const index = items.required(CHUNK.index, 'index').u16();
  const countReader = items.required(CHUNK.count, 'count');
  const count = countReader.u16();
  if (count < 1 || count > MAX_CONFIG_CHUNKS || index >= count) {
    countReader.fail(`config chunk ${index} of ${count} is out of range`, 0);
  }
  const bytes = Buffer.from(items.required(CHUNK.bytes, 'bytes').rest());
  return { kind: 'config-chunk', version, index, count, bytes };
}

/** Splits a signed network config (its serialised bytes) into chunk messages. */
export function chunkNetworkConfig(version: number, bytes: Buffer, chunkBytes = CONFIG_CHUNK_BYTES): ConfigChunkMessage[] {
  const count = Math.max(1, Math.ceil(bytes.length / chunkBytes));
  if (count > MAX_CONFIG_CHUNKS) {
    throw new WireEncodeError('RN_WIRE_TOO_LARGE', `network config of ${bytes.length} bytes needs ${count} chunks, more than ${MAX_CONFIG_CHUNKS}`);
  }
  return Array.from({ length: count }, (_, index) => ({
    kind: 'config-chunk' as const,
    version,
    index,
    count,
    bytes: bytes.subarray(index * chunkBytes, (index + 1) * chunkBytes),
  }));
}

export function encodeTunnelRequest(m: TunnelRequestMessage): TlvItem[] {
  const items = [item(TREQ.role, u8(ROLES.indexOf(m.role) + 1)), item(TREQ.proto, u8(PROTOS.indexOf(m.proto) + 1))];
  if (m.natClass !== undefined) items.push(natClassItem(TREQ.natClass, m.natClass));
  return items;
}

export function decodeTunnelRequest(items: Fields): TunnelRequestMessage {
  const m: TunnelRequestMessage = {
    kind: 'tunnel-request',
    role: items.required(TREQ.role, 'role').enumOf(ROLES, 'tunnel role'),
    proto: items.required(TREQ.proto, 'proto').enumOf(PROTOS, 'tunnel proto'),
  };
  const nat = items.optional(TREQ.natClass);
  if (nat) m.natClass = natClassOf(nat);
  return m;
}

export function encodeTunnelAccept(m: TunnelAcceptMessage): TlvItem[] {
  return [item(TACC.port, u16(m.port))];
}

export function decodeTunnelAccept(items: Fields): TunnelAcceptMessage {
  const r = items.required(TACC.port, 'port');
  const port = r.u16();
  if (port === 0) r.fail('tunnel port 0', 0);
  return { kind: 'tunnel-accept', port };
}

export function encodeTunnelRefuse(m: TunnelRefuseMessage): TlvItem[] {
  const code = REFUSE_REASONS.indexOf(m.reason as (typeof REFUSE_REASONS)[number]) + 1;
  const items = [item(TREF.reason, u8(code === 0 ? 0xff : code))];
  if (m.natClass !== undefined) items.push(natClassItem(TREF.natClass, m.natClass));
  return items;
}

function natClassItem(type: number, c: WireNatClass): TlvItem {
  return item(type, u8(WIRE_NAT_CLASSES.indexOf(c) + 1));
}

function natClassOf(r: FieldReader): WireNatClass {
  return WIRE_NAT_CLASSES[r.u8() - 1] ?? 'unknown';
}

export function decodeTunnelRefuse(items: Fields): TunnelRefuseMessage {
  const code = items.required(TREF.reason, 'reason').u8();
  const m: TunnelRefuseMessage = { kind: 'tunnel-refuse', reason: REFUSE_REASONS[code - 1] ?? 'other' };
  const nat = items.optional(TREF.natClass);
  if (nat) m.natClass = natClassOf(nat);
  return m;
}

export function encodeDrain(m: DrainMessage): TlvItem[] {
  return [
    item(DRAIN.phase, u8(PHASES.indexOf(m.phase) + 1)),
    item(DRAIN.tunnelPort, u16(m.tunnelPort)),
    item(DRAIN.closeInMs, u32(m.closeInMs)),
  ];
}

export function decodeDrain(items: Fields): DrainMessage {
  return {
    kind: 'drain',
    phase: items.required(DRAIN.phase, 'phase').enumOf(PHASES, 'drain phase'),
    tunnelPort: items.required(DRAIN.tunnelPort, 'tunnel port').u16(),
    closeInMs: items.required(DRAIN.closeInMs, 'close in ms').u32(),
  };
}

export function encodePunch(m: PunchRequestMessage | PunchAcceptMessage): TlvItem[] {
  return [item(PUNCH.endpoint, endpointBytes(m.endpoint)), natClassItem(PUNCH.natClass, m.natClass)];
}

export function decodePunch<K extends 'punch-request' | 'punch-accept'>(kind: K, items: Fields): PunchRequestMessage | PunchAcceptMessage {
  const r = items.required(PUNCH.endpoint, 'endpoint');
  const endpoint = r.endpoint();
  if (/:0$/.test(endpoint)) r.fail('punch endpoint with port 0', 0);
  return { kind, endpoint, natClass: natClassOf(items.required(PUNCH.natClass, 'NAT class')) };
}

export function encodeReach(m: ReachRequestMessage | ReachProbeMessage | ReachReplyMessage): TlvItem[] {
  if (m.kind === 'reach-reply') {
    const code = REACH_OUTCOMES.indexOf(m.outcome as (typeof REACH_OUTCOMES)[number]) + 1;
    return [item(REACH.outcome, u8(code === 0 ? 0xff : code))];
  }
  if (m.nonce.length !== REACH_NONCE_BYTES) throw new WireEncodeError('RN_WIRE_BAD_FIELD', `a reach nonce has ${REACH_NONCE_BYTES} bytes, not ${m.nonce.length}`);
  const nonce = item(REACH.nonce, m.nonce);
  return m.kind === 'reach-probe' ? [nonce] : [item(REACH.endpoint, endpointBytes(m.endpoint)), nonce];
}

export function decodeReach(kind: 'reach-request' | 'reach-probe' | 'reach-reply', items: Fields): ReachRequestMessage | ReachProbeMessage | ReachReplyMessage {
  if (kind === 'reach-reply') return { kind, outcome: REACH_OUTCOMES[items.required(REACH.outcome, 'outcome').u8() - 1] ?? 'other' };
  const r = items.required(REACH.nonce, 'nonce');
  if (r.remaining !== REACH_NONCE_BYTES) r.fail(`reach nonce of ${r.remaining} bytes, not ${REACH_NONCE_BYTES}`, 0);
  const nonce = Buffer.from(r.rest());
  if (kind === 'reach-probe') return { kind, nonce };
  const e = items.required(REACH.endpoint, 'endpoint');
  const endpoint = e.endpoint();
  if (/:0$/.test(endpoint)) e.fail('reach endpoint with port 0', 0);
  return { kind, endpoint, nonce };
}

export function encodeMessage(m: PeerMessage): TlvItem[] {
  switch (m.kind) {
    case 'hello': return encodeHello(m);
    case 'addresses': return encodeAddresses(m);
    case 'peer-list': return encodePeerList(m);
    case 'config-chunk': return encodeConfigChunk(m);
    case 'tunnel-request': return encodeTunnelRequest(m);
    case 'tunnel-accept': return encodeTunnelAccept(m);
    case 'tunnel-refuse': return encodeTunnelRefuse(m);
    case 'drain': return encodeDrain(m);
    case 'punch-request':
    case 'punch-accept': return encodePunch(m);
    case 'reach-request':
    case 'reach-probe':
    case 'reach-reply': return encodeReach(m);
  }
}

export function decodeMessage(kind: MessageKind, fields: Fields): PeerMessage {
  switch (kind) {
    case 'hello': return decodeHello(fields);
    case 'addresses': return decodeAddresses(fields);
    case 'peer-list': return decodePeerList(fields);
    case 'config-chunk': return decodeConfigChunk(fields);
    case 'tunnel-request': return decodeTunnelRequest(fields);
    case 'tunnel-accept': return decodeTunnelAccept(fields);
    case 'tunnel-refuse': return decodeTunnelRefuse(fields);
    case 'drain': return decodeDrain(fields);
    case 'punch-request':
    case 'punch-accept': return decodePunch(kind, fields);
    case 'reach-request':
    case 'reach-probe':
    case 'reach-reply': return decodeReach(kind, fields);
  }
}

/**
 * Envelope + common items + message → authenticated datagram (≤ MAX_MESSAGE_BYTES):
 * `sign` returns an ECDSA signature, or with auth 'mac' a 16-byte link MAC.
 */
export function encodePacket(p: Packet, sign: Signer, auth: FrameAuth = 'signature'): Buffer {
  const items = encodeMessage(p.message);
  if (p.certDer !== undefined) items.push(item(COMMON_TLV.cert, p.certDer));
  if (p.requestId !== undefined) items.push(item(COMMON_TLV.requestId, u32(p.requestId)));
  if (p.inReplyTo !== undefined) items.push(item(COMMON_TLV.inReplyTo, u32(p.inReplyTo)));
  if (p.linkFlags !== undefined) items.push(item(COMMON_TLV.link, u8(p.linkFlags)));
  if (p.padToBytes !== undefined) {
    const longest = ENVELOPE_BYTES + (auth === 'mac' ? MAC_TAG_BYTES : MAX_DER_SIGNATURE_BYTES) + items.reduce((n, it) => n + ITEM_HEADER_BYTES + it.value.length, 0);
    const room = Math.min(p.padToBytes, MAX_MESSAGE_BYTES) - longest - ITEM_HEADER_BYTES;
    if (room >= 0) items.push(item(COMMON_TLV.pad, Buffer.alloc(room)));
  }
  return encodeFrame(
    { kind: MESSAGE_KINDS[p.message.kind], sender: p.sender, recipient: p.recipient, timestampMs: p.timestampMs, seq: p.seq },
    items,
    sign,
    auth,
  );
}

/** Datagram → packet; throws only WireDecodeError. The signature is not checked here. */
export function decodePacket(datagram: Buffer): DecodedPacket {
  const frame = decodeFrame(datagram);
  const kind = KIND_BY_CODE.get(frame.envelope.kind);
  if (kind === undefined) {
    throw new WireDecodeError('RN_WIRE_UNKNOWN_KIND', `unknown peer message kind ${frame.envelope.kind}`, { offset: 1 });
  }
  const fields = new Fields(frame.items);
  const packet: DecodedPacket = {
    sender: frame.envelope.sender,
    recipient: frame.envelope.recipient,
    timestampMs: frame.envelope.timestampMs,
    seq: frame.envelope.seq,
    message: decodeMessage(kind, fields),
    auth: frame.auth,
    signature: frame.signature,
    signedData: frame.signedData,
  };
  const cert = fields.optional(COMMON_TLV.cert);
  if (cert) packet.certDer = Buffer.from(cert.rest());
  const rid = fields.optional(COMMON_TLV.requestId);
  if (rid) packet.requestId = rid.u32();
  const irt = fields.optional(COMMON_TLV.inReplyTo);
  if (irt) packet.inReplyTo = irt.u32();
  const link = fields.optional(COMMON_TLV.link);
  if (link) packet.linkFlags = link.u8();
  return packet;
}

/** Bytes a peer-list entry takes in a frame (item header included). */
export function peerListEntryBytes(e: PeerListEntry): number {
  return ITEM_HEADER_BYTES + PREFIX_BYTES + e.addresses.reduce((n, a) => n + endpointBytes(a).length, 0);
}

/**
 * Groups entries so each group fits one peer-list message (with room for a
 * requestCount item, the common items of a reply and the link flags). Entries too large for any
 * message (hundreds of addresses) are dropped rather than breaking the send.
 */
export function packPeerList(entries: readonly PeerListEntry[], onSkip?: (prefix: string, address: string) => void): PeerListEntry[][] {
  // The longest signature: the daemon signs with pki signBytes (DER, up to 72 bytes).
  const budget = MAX_MESSAGE_BYTES - ENVELOPE_BYTES - MAX_DER_SIGNATURE_BYTES - 3 * (ITEM_HEADER_BYTES + 4) - (ITEM_HEADER_BYTES + 1);
  const groups: PeerListEntry[][] = [];
  let current: PeerListEntry[] = [];
  let used = 0;
  for (const raw of entries) {
    // One unusable address (a zone ID, loopback, …) is skipped; it never stops the whole message.
    const addresses = raw.addresses.filter((a) => {
      const ok = usableEndpoint(a);
      if (!ok) onSkip?.(raw.prefix, a);
      return ok;
    });
    if (addresses.length === 0) continue;
    const e = { prefix: raw.prefix, addresses };
    const size = peerListEntryBytes(e);
    if (size > budget) continue;
    if (used + size > budget) {
      groups.push(current);
      current = [];
      used = 0;
    }
    current.push(e);
    used += size;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

/** "IP:PORT" ("[v6]:port" or "v4:port") that a peer elsewhere can use and the wire can carry. */
function usableEndpoint(text: string): boolean {
  const host = /^\[(.+)\]:\d+$/.exec(text)?.[1] ?? /^([^:]+):\d+$/.exec(text)?.[1];
  if (host === undefined || !isPeerAddress(host)) return false;
  try {
    endpointBytes(text);
    return true;
  } catch {
    return false;
  }
}

/** The items of one frame, looked up by type: first occurrence for singular fields. */
export class Fields {
  constructor(private readonly items: readonly TlvItem[]) {}

  optional(type: number): FieldReader | undefined {
    const it = this.items.find((i) => i.type === type);
    return it === undefined ? undefined : new FieldReader(it);
  }

  required(type: number, name: string): FieldReader {
    const r = this.optional(type);
    if (r === undefined) {
      const end = this.items.at(-1);
      throw new WireDecodeError('RN_WIRE_MISSING_FIELD', `peer message lacks its ${name} (item type ${type})`, {
        offset: end === undefined ? 0 : end.offset + end.value.length,
        tlvType: type,
      });
    }
    return r;
  }

  all(type: number): FieldReader[] {
    return this.items.filter((i) => i.type === type).map((i) => new FieldReader(i));
  }
}

export class FieldReader extends ValueReader {
  constructor(it: TlvItem) {
    super(it.value, 0, it.value.length, it.type, it.offset);
  }

  /** 1-based enum code → value; unknown codes are a bad value. */
  enumOf<T>(values: readonly T[], what: string): T {
    const at = this.position;
    const code = this.u8();
    const v = values[code - 1];
    if (v === undefined) return this.fail(`unknown ${what} code ${code}`, at);
    return v;
  }
}
