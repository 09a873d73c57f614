// Prefix allocation (pure): node prefixes of `nodeLength` bits inside the
// network prefix, identified by their index. The lowest free index is taken,
// so prefixes freed by a purge are reused first.
import { ResilnetError } from '../config/errors.js';
import { formatPrefix, subPrefix, type Ipv6Prefix } from '../config/ipv6.js';

/** How many node prefixes the network holds (capped to a safe integer). */
export function prefixCapacity(network: Ipv6Prefix, nodeLength: number): number {
  checkLengths(network, nodeLength);
  const bits = nodeLength - network.length;
  return bits >= 53 ? Number.MAX_SAFE_INTEGER : 2 ** bits;
}

export function checkLengths(network: Ipv6Prefix, nodeLength: number): void {
  if (!Number.isInteger(nodeLength) || nodeLength <= network.length || nodeLength > 127) {
    throw new ResilnetError(
      'RN_REGISTRY_PREFIX_LENGTH',
      `node prefix length /${nodeLength} leaves no room inside the network prefix ${formatPrefix(network)}: it must be longer than /${network.length} and at most /127`,
      { hint: 'Pick a shorter network prefix (e.g. a /48) or a longer --node-prefix-length (e.g. 64).' },
    );
  }
}

/** The lowest index not in `sortedUsed` (ascending, distinct), or undefined when full. */
export function lowestFreeIndex(sortedUsed: readonly number[], capacity: number): number | undefined {
  let expect = 0;
  for (const used of sortedUsed) {
    if (used > expect) break;
    if (used === expect) expect++;
  }
  return expect < capacity ? expect : undefined;
}

export function prefixAtIndex(network: Ipv6Prefix, nodeLength: number, index: number): string {
  return formatPrefix(subPrefix(network, nodeLength, BigInt(index)));
}

export interface Allocation {
  readonly index: number;
  readonly prefix: string;
}

/** Picks the next node prefix; throws RN_REGISTRY_NETWORK_FULL when none is left. */
export function allocatePrefix(network: Ipv6Prefix, nodeLength: number, sortedUsed: readonly number[]): Allocation {
  const capacity = prefixCapacity(network, nodeLength);
  const index = lowestFreeIndex(sortedUsed, capacity);
  if (index === undefined) {
    throw new ResilnetError(
      'RN_REGISTRY_NETWORK_FULL',
      `registration refused: the network ${formatPrefix(network)} is full (all ${capacity} /${nodeLength} node prefixes are in use)`,
      { hint: 'Ask the registry admin to revoke unused nodes (`resilnet registry revoke`) or to wait for expired ones to be purged.' },
    );
  }
  return { index, prefix: prefixAtIndex(network, nodeLength, index) };
}
