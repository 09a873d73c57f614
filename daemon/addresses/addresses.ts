// Underlay addresses, pure: which of this node's addresses to announce (and
// under which kind), how to order a peer's announced addresses for the peer DB,
// and in which order to try a peer's addresses when opening a tunnel.
// Addresses travel as "IP:PORT" (IPv6 in brackets) everywhere.
import { isIP } from 'node:net';
import { addressInPrefix, parseIpv6Address, parsePrefix, type Ipv6Prefix } from '../../config/ipv6.js';
import type { AddressesMessage } from '../../wire/messages.js';
import { formatHostPort, parseHostPort } from '../sys/host-port.js';

/** At most this many addresses are kept per peer (the peer DB's own bound). */
export const MAX_PEER_ADDRESSES = 8;

export type IpScope = 'loopback' | 'link-local' | 'private' | 'global' | 'unspecified' | 'multicast' | 'invalid';

/** One interface address as os.networkInterfaces() reports it (the fields used here). */
export interface InterfaceAddressInfo {
  address: string;
  family: string | number;
  internal: boolean;
  cidr: string | null;
}

export type InterfaceSnapshot = Record<string, readonly InterfaceAddressInfo[] | undefined>;

/** A usable local underlay address with its subnet. */
export interface LocalAddress {
  ifName: string;
  ip: string;
  /** "IP/LEN" of the interface's subnet, when known. */
  cidr: string | null;
  scope: 'private' | 'global';
}

/** Where an announced address comes from (the heartbeat's kinds, plus what the registry saw). */
export type AddressKind = 'upnp' | 'configured' | 'public' | 'seen' | 'internal';

export interface AddressEntry {
  /** "IP:PORT". */
  address: string;
  kind: AddressKind;
}

export function ipScope(ip: string): IpScope {
  const bare = stripScope(ip);
  const family = isIP(bare);
  if (family === 4) return ipv4Scope(ipv4ToInt(bare));
  if (family !== 6) return 'invalid';
  let v: bigint;
  try {
    v = parseIpv6Address(bare);
  } catch {
    return 'invalid';
  }
  if (v >> 32n === 0xffffn) return ipv4Scope(Number(v & 0xffffffffn)); // v4-mapped
  if (v === 0n) return 'unspecified';
  if (v === 1n) return 'loopback';
  if (v >> 118n === 0x3fan) return 'link-local'; // fe80::/10
  if (v >> 120n === 0xffn) return 'multicast';
  if (v >> 121n === 0x7en) return 'private'; // fc00::/7
  return 'global';
}

function ipv4Scope(n: number): IpScope {
  const a = n >>> 24;
  const b = (n >>> 16) & 0xff;
  if (a === 0) return 'unspecified';
  if (a === 127) return 'loopback';
  if (a === 169 && b === 254) return 'link-local';
  if (a >= 224) return 'multicast';
  if (a === 10 || (a === 172 && b >= 16 && b < 32) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b < 128)) return 'private';
  return 'global';
}

function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((n, part) => ((n << 8) | Number(part)) >>> 0, 0);
}

function stripScope(ip: string): string {
  const i = ip.indexOf('%');
  return i < 0 ? ip : ip.slice(0, i);
}

function inOverlay(ip: string, overlay: Ipv6Prefix | undefined): boolean {
  if (!overlay || isIP(ip) !== 6) return false;
  try {
    return addressInPrefix(overlay, parseIpv6Address(ip));
  } catch {
    return false;
  }
}

/**
 * The node's own underlay addresses: global and private addresses of its
 * interfaces; never loopback, link-local, multicast or the overlay prefix (a
 * tunnel over the overlay would be recursive).
 */
export function localUnderlayAddresses(ifaces: InterfaceSnapshot, networkPrefix: string): LocalAddress[] {
  const overlay = parsePrefix(networkPrefix);
  const out: LocalAddress[] = [];
  for (const [ifName, list] of Object.entries(ifaces)) {
    for (const info of list ?? []) {
      if (info.internal) continue;
      const scope = ipScope(info.address);
      if (scope !== 'private' && scope !== 'global') continue;
      if (inOverlay(info.address, overlay)) continue;
      if (out.some((a) => a.ip === info.address)) continue;
      out.push({ ifName, ip: info.address, cidr: info.cidr, scope });
    }
  }
  return out;
}

/**
 * What this node announces, best first: the UPnP-mapped address, configured
 * ones, global interface addresses, the address the registry saw, then private
 * interface addresses. An address appears once, under its first kind.
 */
export function buildAddressEntries(input: {
  interfaces: readonly LocalAddress[];
  /** The peer-protocol port (underlay.port). */
  port: number;
  /** underlay.addresses: "IP" (our port is added) or "IP:PORT". */
  configured: readonly string[];
  upnp?: { ip: string; mappings: readonly { internalPort: number; externalPort: number }[] } | undefined;
  seenIp?: string | undefined;
}): AddressEntry[] {
  const out: AddressEntry[] = [];
  const add = (address: string | undefined, kind: AddressKind) => {
    if (address !== undefined && !out.some((e) => e.address === address)) out.push({ address, kind });
  };
  const withPort = (text: string): string | undefined => {
    const hp = parseHostPort(text);
    if (hp) return formatHostPort(hp.host, hp.port);
    const ip = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
    return isIP(ip) ? formatHostPort(ip, input.port) : undefined;
  };
  if (input.upnp) {
    const m = input.upnp.mappings.find((x) => x.internalPort === input.port);
    if (m && isIP(input.upnp.ip)) add(formatHostPort(input.upnp.ip, m.externalPort), 'upnp');
  }
  for (const c of input.configured) add(withPort(c), 'configured');
  for (const a of input.interfaces) if (a.scope === 'global') add(formatHostPort(a.ip, input.port), 'public');
  if (input.seenIp && isIP(input.seenIp)) {
    const scope = ipScope(input.seenIp);
    if (scope === 'global' || scope === 'private') add(formatHostPort(input.seenIp, input.port), 'seen');
  }
  for (const a of input.interfaces) if (a.scope === 'private') add(formatHostPort(a.ip, input.port), 'internal');
  return out;
}

/** The peer-protocol `addresses` message for these entries. */
export function toAnnouncement(entries: readonly AddressEntry[], wantReply = false): AddressesMessage {
  const pick = (kinds: AddressKind[]) => entries.filter((e) => kinds.includes(e.kind)).map((e) => e.address);
  const msg: AddressesMessage = { kind: 'addresses', public: pick(['configured', 'public', 'seen']), internal: pick(['internal']), upnp: pick(['upnp']) };
  if (wantReply) msg.wantReply = true;
  return msg;
}

/** The heartbeat's address list (the registry adds what it saw itself). */
export function toHeartbeatAddresses(entries: readonly AddressEntry[]): { address: string; kind: 'public' | 'internal' | 'upnp' | 'configured' }[] {
  return entries.filter((e) => e.kind !== 'seen').map((e) => ({ address: e.address, kind: e.kind as 'public' | 'internal' | 'upnp' | 'configured' }));
}

/** An address a tunnel can be built to: parseable, unicast, outside the overlay. */
export function isDialable(text: string, networkPrefix?: string): boolean {
  const hp = parseHostPort(text);
  if (!hp) return false;
  const scope = ipScope(hp.host);
  if (scope !== 'private' && scope !== 'global') return false;
  return !inOverlay(hp.host, networkPrefix ? parsePrefix(networkPrefix) : undefined);
}

/**
 * A peer's own announcement as the peer-DB list, best first: UPnP-mapped,
 * public, the address its message came from (when that is on the underlay),
 * then internal ones.
 */
export function orderAnnounced(msg: Pick<AddressesMessage, 'public' | 'internal' | 'upnp'>, networkPrefix: string, observed?: string): string[] {
  const all = [...msg.upnp, ...msg.public, ...(observed ? [observed] : []), ...msg.internal];
  return mergeAddresses(all.filter((a) => isDialable(a, networkPrefix)), []);
}

/** `first` then `rest`, without repeats, at most `max`. */
export function mergeAddresses(first: readonly string[], rest: readonly string[], max = MAX_PEER_ADDRESSES): string[] {
  return [...new Set([...first, ...rest])].slice(0, max);
}

/**
 * The order in which to try a peer's addresses: one in a subnet of ours first
 * (same LAN, e.g. two nodes behind one NAT), then those of an IP family we
 * have, then the rest; the stored order is kept within each group.
 */
export function orderForDial(addresses: readonly string[], local: readonly LocalAddress[]): string[] {
  const families = new Set(local.map((l) => isIP(l.ip)));
  const rank = (text: string): number => {
    const hp = parseHostPort(text);
    if (!hp) return 3;
    if (local.some((l) => l.cidr !== null && inCidr(hp.host, l.cidr))) return 0;
    return families.has(isIP(hp.host)) ? 1 : 2;
  };
  return addresses
    .map((a, i) => ({ a, i, r: rank(a) }))
    .sort((x, y) => x.r - y.r || x.i - y.i)
    .map((x) => x.a);
}

/** Whether ip lies in "NET/LEN" (same family only). */
export function inCidr(ip: string, cidr: string): boolean {
  const slash = cidr.lastIndexOf('/');
  if (slash < 0) return false;
  const net = cidr.slice(0, slash);
  const len = Number(cidr.slice(slash + 1));
  const family = isIP(ip);
  if (family === 0 || family !== isIP(net) || !Number.isInteger(len)) return false;
  if (family === 4) {
    if (len < 0 || len > 32) return false;
    const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
    return ((ipv4ToInt(ip) & mask) >>> 0) === ((ipv4ToInt(net) & mask) >>> 0);
  }
  if (len < 0 || len > 128) return false;
  try {
    const mask = len === 0 ? 0n : ((1n << BigInt(len)) - 1n) << BigInt(128 - len);
    return (parseIpv6Address(stripScope(ip)) & mask) === (parseIpv6Address(net) & mask);
  } catch {
    return false;
  }
}
