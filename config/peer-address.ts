// Whether an IP is an address another peer may use to reach a node (pure).
// Such addresses travel through heartbeats, bootstrap answers and peer lists:
// one that only means something on the sender's own host or link (a zone ID,
// loopback, link-local) or nothing at all (unspecified, multicast) must be
// refused where it enters and skipped where it is served, never passed on.
import { isIPv4, isIPv6 } from 'node:net';
import { parseIpv6Address } from './ipv6.js';

/** Why `ip` ("1.2.3.4" or "2001:db8::1", no brackets or port) is not usable by peers; undefined when it is. */
export function peerAddressProblem(ip: string): string | undefined {
  if (ip.includes('%')) return `${ip} carries an IPv6 zone ID, which only means something on the host that wrote it`;
  if (isIPv4(ip)) return ipv4Problem(ip, ip);
  if (!isIPv6(ip)) return `${ip} is not an IP address`;
  const v = parseIpv6Address(ip);
  if (v >> 32n === 0xffffn) return ipv4Problem(ipv4Text(Number(v & 0xffffffffn)), ip); // ::ffff:a.b.c.d
  if (v === 0n) return `${ip} is the unspecified address`;
  if (v === 1n) return `${ip} is a loopback address`;
  if (v >> 118n === 0x3fan) return `${ip} is link-local (fe80::/10)`;
  if (v >> 120n === 0xffn) return `${ip} is a multicast address (ff00::/8)`;
  return undefined;
}

/**
 * Why an announced address as written in resilnet.toml ("IP", "IPv4:PORT" or "[IPv6]:PORT")
 * cannot be used by peers; undefined when it can.
 */
export function announcedAddressProblem(text: string): string | undefined {
  const withPort = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([0-9.]+):(\d{1,5})$/.exec(text);
  const ip = withPort ? withPort[1]! : text;
  if (withPort && !(Number(withPort[2]) >= 1 && Number(withPort[2]) <= 65535)) return `${text}: the port must be 1-65535`;
  return peerAddressProblem(ip);
}

export function isPeerAddress(ip: string): boolean {
  return peerAddressProblem(ip) === undefined;
}

function ipv4Problem(v4: string, shown: string): string | undefined {
  const [a, b] = v4.split('.').map(Number) as [number, number];
  if (a === 0) return `${shown} is in 0.0.0.0/8 (unspecified)`;
  if (a === 127) return `${shown} is a loopback address (127.0.0.0/8)`;
  if (a === 169 && b === 254) return `${shown} is link-local (169.254.0.0/16)`;
  if (a >= 224 && a < 240) return `${shown} is a multicast address (224.0.0.0/4)`;
  if (a >= 240) return `${shown} is reserved or broadcast (240.0.0.0/4)`;
  return undefined;
}

function ipv4Text(n: number): string {
  return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join('.');
}
