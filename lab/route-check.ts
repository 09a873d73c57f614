// Which pairs can answer a ping at all: both ends need a route that covers the
// other's overlay address. One `ip -6 route show` per node is cheap, while a
// ping per pending pair every round (4,000 at 64 nodes, each a fork) was a large
// part of the load the lab measured the network under. The verdict on a pair is
// still its ping; a node whose table could not be read is pinged as before.
import { addressInPrefix, parseIpv6Address, parsePrefix, type Ipv6Prefix } from '../config/ipv6.js';
import type { CommandRunner } from './exec.js';
import type { ReachNode } from './reach.js';

/** Route types that carry nothing to the destination. */
const DEAD_ENDS = new Set(['unreachable', 'blackhole', 'prohibit', 'throw']);

/** The destinations of usable routes in `ip -6 route show` output ("default" is ::/0). Pure. */
export function usableRoutes(text: string): Ipv6Prefix[] {
  const out: Ipv6Prefix[] = [];
  for (const line of text.split('\n')) {
    const dst = line.trim().split(/\s+/)[0];
    if (!dst || DEAD_ENDS.has(dst)) continue;
    try {
      out.push(dst === 'default' ? parsePrefix('::/0') : parsePrefix(dst.includes('/') ? dst : `${dst}/128`));
    } catch {
      // not a destination we understand (a continuation line, a multipath nexthop): no route from it
    }
  }
  return out;
}

/** True when one of `routes` covers `address`. Pure. */
export function routeCovers(routes: readonly Ipv6Prefix[], address: string): boolean {
  const a = parseIpv6Address(address);
  return routes.some((r) => addressInPrefix(r, a));
}

/** Each node's usable routes; a node whose table could not be read is left out. */
export async function readRouteTables(runner: CommandRunner, nodes: readonly ReachNode[], parallel = 16): Promise<Map<string, Ipv6Prefix[]>> {
  const tables = new Map<string, Ipv6Prefix[]>();
  for (let i = 0; i < nodes.length; i += parallel) {
    await Promise.all(
      nodes.slice(i, i + parallel).map(async (n) => {
        const r = await runner.run(['ip', '-n', n.netns, '-6', 'route', 'show'], { timeoutMs: 30_000 });
        if (r.code === 0) tables.set(n.name, usableRoutes(r.stdout));
      }),
    );
  }
  return tables;
}

/**
 * Splits pairs into those worth a ping and those that cannot answer: a route missing at the
 * source towards the target, or at the target for the reply. Pure.
 */
export function splitByRoutes(
  pairs: ReadonlyArray<[string, string]>,
  nodes: readonly ReachNode[],
  tables: ReadonlyMap<string, readonly Ipv6Prefix[]>,
): { ping: Array<[string, string]>; unrouted: Array<[string, string]> } {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const routed = (from: string, to: string): boolean => {
    const table = tables.get(from);
    const target = byName.get(to);
    return table === undefined || target === undefined || routeCovers(table, target.overlay);
  };
  const ping: Array<[string, string]> = [];
  const unrouted: Array<[string, string]> = [];
  for (const pair of pairs) (routed(pair[0], pair[1]) && routed(pair[1], pair[0]) ? ping : unrouted).push(pair);
  return { ping, unrouted };
}
