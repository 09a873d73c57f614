// `--lan K`: K public nodes share one LAN segment besides the lab's internet.
// The segment is a bridge in its own namespace (rn<ID>-lan); each LAN node gets
// a second interface, eth1, on it with an address in 10.X.250.0/24, and runs
// LAN discovery on eth1 ([lan] in its resilnet.toml). Pure: names, addresses,
// the `ip` steps and the config patch.
import { LabError } from './errors.js';

export const LAN_IFNAME = 'eth1';
/** Seconds between LAN announcements in the lab (quicker than the default 30: a lab lives minutes). */
export const LAB_LAN_INTERVAL_SEC = 10;

export interface LanSegmentLayout {
  netns: string;
  bridge: string;
  /** 10.X.250.0/24. */
  subnet: string;
  /** An address of the bridge itself (a vantage point inside the segment). */
  bridgeAddress: string;
  members: { node: string; netns: string; address: string }[];
}

/**
 * The segment for the first `k` nodes. They must be public nodes (a segment
 * behind one shared NAT router is not built yet); `k` = 0 means no segment.
 */
export function lanSegmentLayout(
  k: number,
  lab: { net: string; ns: (suffix: string) => string; nodes: readonly { name: string; netns: string; gateway?: string }[] },
): LanSegmentLayout | undefined {
  if (k === 0) return undefined;
  const publicNodes = lab.nodes.filter((n) => !n.gateway);
  if (!Number.isInteger(k) || k < 2 || k > publicNodes.length) {
    throw new LabError('RN_LAB_BAD_NAME', `invalid LAN count: ${k} (use 0, or 2-${publicNodes.length}: the public nodes n1… share the LAN).`);
  }
  return {
    netns: lab.ns('lan'),
    bridge: 'br1',
    subnet: `${lab.net}.250.0/24`,
    bridgeAddress: `${lab.net}.250.254`,
    members: publicNodes.slice(0, k).map((n, i) => ({ node: n.name, netns: n.netns, address: `${lab.net}.250.${i + 1}` })),
  };
}

/** `ip` argv lists that build the segment (its namespace exists already). */
export function planLanSegment(lan: LanSegmentLayout): string[][] {
  const inLan = (...args: string[]) => ['ip', '-n', lan.netns, ...args];
  const steps = [
    // No multicast snooping: announcements reach every port whether or not MLD reports were seen.
    inLan('link', 'add', lan.bridge, 'type', 'bridge', 'mcast_snooping', '0'),
    inLan('addr', 'add', `${lan.bridgeAddress}/24`, 'dev', lan.bridge),
    inLan('link', 'set', lan.bridge, 'up'),
  ];
  for (const m of lan.members) {
    const port = `l-${m.node}`;
    steps.push(
      ['ip', 'link', 'add', LAN_IFNAME, 'netns', m.netns, 'type', 'veth', 'peer', 'name', port, 'netns', lan.netns],
      inLan('link', 'set', port, 'master', lan.bridge, 'up'),
      ['ip', '-n', m.netns, 'addr', 'add', `${m.address}/24`, 'dev', LAN_IFNAME],
      ['ip', '-n', m.netns, 'link', 'set', LAN_IFNAME, 'up'],
    );
  }
  return steps;
}

/** The [lan] table of a LAN member's resilnet.toml; nothing for other nodes. */
export function lanConfigPatch(lan: LanSegmentLayout | undefined, node: string): Record<string, Record<string, unknown>> {
  if (!lan?.members.some((m) => m.node === node)) return {};
  return { lan: { interfaces: [LAN_IFNAME], interval: LAB_LAN_INTERVAL_SEC } };
}
