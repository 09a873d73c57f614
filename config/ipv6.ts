// IPv6 addresses and prefixes as BigInt, with one canonical text form (RFC 5952),
// shared by the registry's allocator and the node daemon. A peer is named by its
// prefix in canonical CIDR text everywhere: certificates, DB, logs and CLI.
import { isIPv6 } from 'node:net';
import { ResilnetError } from './errors.js';

export interface Ipv6Prefix {
  readonly address: bigint; // network address, host bits zero
  readonly length: number; // 0..128
}

const ALL_ONES = (1n << 128n) - 1n;

export class PrefixParseError extends ResilnetError {
  constructor(text: string, why: string) {
    super('RN_PREFIX_INVALID', `invalid IPv6 prefix "${text}": ${why}`);
    this.name = 'PrefixParseError';
  }
}

export function parseIpv6Address(text: string): bigint {
  if (!isIPv6(text) || text.includes('%')) throw new PrefixParseError(text, 'not an IPv6 address');
  let head = text;
  let tail = '';
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hex groups.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    head = text.slice(0, v4.index);
    tail = `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
    head = head + tail;
  }
  const [left = '', right] = head.split('::');
  const l = left === '' ? [] : left.split(':');
  const r = right === undefined ? [] : right === '' ? [] : right.split(':');
  const missing = 8 - l.length - r.length;
  const groups = right === undefined ? l : [...l, ...Array<string>(missing).fill('0'), ...r];
  let value = 0n;
  for (const g of groups) value = (value << 16n) | BigInt(parseInt(g, 16));
  return value;
}

export function formatIpv6Address(value: bigint): string {
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((value >> BigInt(i * 16)) & 0xffffn));
  // Longest run (length ≥ 2) of zero groups becomes "::" (RFC 5952 §4.2).
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

export function parsePrefix(text: string): Ipv6Prefix {
  const slash = text.indexOf('/');
  if (slash < 0) throw new PrefixParseError(text, 'missing "/length"');
  const lenText = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(lenText)) throw new PrefixParseError(text, 'the length must be a number 0-128');
  const length = Number(lenText);
  if (length > 128) throw new PrefixParseError(text, 'the length must be 0-128');
  const address = parseIpv6Address(text.slice(0, slash));
  if ((address & ~prefixMask(length) & ALL_ONES) !== 0n) {
    throw new PrefixParseError(text, `host bits are set (did you mean ${formatPrefix({ address: address & prefixMask(length), length })}?)`);
  }
  return { address, length };
}

export function formatPrefix(prefix: Ipv6Prefix): string {
  return `${formatIpv6Address(prefix.address)}/${prefix.length}`;
}

/**
 * A pure text-to-text function whose answers are remembered, up to CANONICAL_CACHE of them
 * (then the memory starts over). A throw is not remembered.
 */
function remembered(compute: (text: string) => string): (text: string) => string {
  const cache = new Map<string, string>();
  return (text) => {
    const known = cache.get(text);
    if (known !== undefined) return known;
    const answer = compute(text);
    if (cache.size >= CANONICAL_CACHE) cache.clear();
    cache.set(text, answer);
    return answer;
  };
}

const CANONICAL_CACHE = 4096;

/**
 * The prefix in its one canonical spelling; throws PrefixParseError. Every peer DB access goes
 * through it (a parse and a format, BigInt arithmetic), with the same few dozen prefixes: remembered.
 */
export const canonicalPrefix: (text: string) => string = remembered((text) => formatPrefix(parsePrefix(text)));

/**
 * An address as formatIpv6Address writes it ("FD00:0::1" → "fd00::1"); throws on a malformed
 * one. Every authenticated frame's sender goes through it (confirmed endpoints): remembered.
 */
export const canonicalAddress: (text: string) => string = remembered((text) => formatIpv6Address(parseIpv6Address(text)));

export function prefixMask(length: number): bigint {
  return length === 0 ? 0n : (ALL_ONES << BigInt(128 - length)) & ALL_ONES;
}

export function prefixContains(outer: Ipv6Prefix, inner: Ipv6Prefix): boolean {
  return inner.length >= outer.length && (inner.address & prefixMask(outer.length)) === outer.address;
}

export function addressInPrefix(prefix: Ipv6Prefix, address: bigint): boolean {
  return (address & prefixMask(prefix.length)) === prefix.address;
}

/** The node's own overlay address: PREFIX::1. */
export function nodeAddress(prefix: Ipv6Prefix): string {
  return formatIpv6Address(prefix.address | 1n);
}

/** The index-th sub-prefix of the given length inside `outer`. */
export function subPrefix(outer: Ipv6Prefix, length: number, index: bigint): Ipv6Prefix {
  if (length < outer.length || length > 128) throw new RangeError('sub-prefix length out of range');
  const count = 1n << BigInt(length - outer.length);
  if (index < 0n || index >= count) throw new RangeError('sub-prefix index out of range');
  return { address: outer.address | (index << BigInt(128 - length)), length };
}
