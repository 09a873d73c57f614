// "IP:PORT" text as peers, the peer DB and the registry write it: IPv6 in
// brackets ("[2001:db8::7]:1194"), IPv4 bare ("10.1.0.7:1194").
import { isIPv4 } from 'node:net';
import { isPeerAddress } from '../../config/peer-address.js';

/** Parses "[IPv6]:PORT" or "IPv4:PORT"; undefined for anything else (no host names, port 1…65535). */
export function parseHostPort(text: string): { host: string; port: number } | undefined {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(text) ?? /^([0-9.]+):(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[2]);
  return port >= 1 && port <= 65535 ? { host: m[1]!, port } : undefined;
}

/** Parses "IPv4:PORT" only (STUN mappings and punch endpoints are IPv4); undefined for anything else. */
export function parseV4Endpoint(text: string): { host: string; port: number } | undefined {
  const hp = parseHostPort(text);
  return hp !== undefined && isIPv4(hp.host) ? hp : undefined;
}

/** "IP:PORT" text a peer elsewhere could use (config/peer-address.ts): parsed, and not a zone ID, loopback, link-local… */
export function isPeerEndpoint(text: string): boolean {
  const hp = parseHostPort(text);
  return hp !== undefined && isPeerAddress(hp.host);
}

export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
