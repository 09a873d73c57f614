// Names derived from prefixes, so that everything the daemon creates can be found
// again from its peers' prefixes alone (no process-name patterns, no state needed).
import { createHash } from 'node:crypto';
import { canonicalPrefix } from '../config/ipv6.js';

/** Linux cuts interface names to 15 characters silently (IFNAMSIZ - 1). */
export const MAX_IFNAME_CHARS = 15;

function digest(label: string, prefixText: string): Buffer {
  // The label keeps the three derivations independent of each other.
  return createHash('sha256').update(`resilnet:${label}:${canonicalPrefix(prefixText)}`).digest();
}

/**
 * Tunnel interface name for the tunnel to `peerPrefix`: `rn` + 13 hex digits of a
 * hash of the canonical prefix (15 chars). Stable across restarts and hosts.
 * Throws PrefixParseError (RN_PREFIX_INVALID) on a malformed prefix.
 */
export function tunnelIfName(peerPrefix: string): string {
  return `rn${digest('ifname', peerPrefix).toString('hex').slice(0, MAX_IFNAME_CHARS - 2)}`;
}

/**
 * This node's IPv6 link-local address on its tunnels: fe80::/64 plus 64 bits from a
 * hash of its own prefix. Predictable, so babel's neighbour and via addresses name
 * the node. The up script adds it as /64 (the kernel generates none: addr_gen_mode=1).
 */
export function linkLocalFor(ownPrefix: string): string {
  const h = digest('ll', ownPrefix);
  const groups: string[] = [];
  for (let i = 0; i < 8; i += 2) groups.push(h.readUInt16BE(i).toString(16));
  return `fe80::${groups.join(':')}`;
}
