// LAN segments of the lab: a bridge in its own namespace that several hosts
// share, each member running LAN discovery on its interface there ([lan] in its
// resilnet.toml). Two kinds:
// - `--lan K`: K public nodes share one segment besides the lab's internet
//   (rn<ID>-lan); each gets a second interface, eth1, with an address in
//   10.X.250.0/24.
// - `--nat-lan`: the NATed nodes sit on one segment behind one shared router
//   (rn<ID>-natlan): their only interface, eth0, is on it, with the router's
//   lan0, in the router's 10.X.17.0/24.
// Pure: names, addresses, the `ip` steps and the config patch.
import { LabError } from './errors.js';
import type { GatewayLayout } from './layout.js';

export const LAN_IFNAME = 'eth1';
/** Seconds between LAN announcements in the lab (quicker than the default 30: a lab lives minutes). */
export const LAB_LAN_INTERVAL_SEC = 10;

export interface LanSegmentLayout {
  netns: string;
  bridge: string;
  /** 10.X.250.0/24, or the shared router's LAN. */
  subnet: string;
  /** An address of the bridge itself (a vantage point inside the segment). */
  bridgeAddress: string;
  /** The members' interface on the segment (LAN discovery runs on it). */
  ifName: string;
  members: { node: string; netns: string; address: string }[];
  /** The NAT router in front of the members (`--nat-lan`): its lan0 is on the segment. */
  router?: { name: string; netns: string; address: string };
}

type LabNames = { ns: (suffix: string) => string; nodes: readonly { name: string; netns: string; underlay: string; gateway?: string }[] };

/**
 * The segment for the first `k` nodes. They must be public nodes (the NATed
 * ones share a segment with `--nat-lan` instead); `k` = 0 means no segment.
 */
export function lanSegmentLayout(k: number, lab: LabNames & { net: string }): LanSegmentLayout | undefined {
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
    ifName: LAN_IFNAME,
    members: publicNodes.slice(0, k).map((n, i) => ({ node: n.name, netns: n.netns, address: `${lab.net}.250.${i + 1}` })),
  };
}

/** The segment behind the shared router `gw`: every node behind it, on eth0 at its underlay address. */
export function natLanSegmentLayout(gw: GatewayLayout, lab: LabNames): LanSegmentLayout {
  const net = gw.lanSubnet.split('/')[0] ?? '';
  return {
    netns: lab.ns('natlan'),
    bridge: 'br1',
    subnet: gw.lanSubnet,
    bridgeAddress: `${net.split('.').slice(0, 3).join('.')}.254`,
    ifName: 'eth0',
    members: lab.nodes.filter((n) => gw.nodes.includes(n.name)).map((n) => ({ node: n.name, netns: n.netns, address: n.underlay })),
    router: { name: gw.name, netns: gw.netns, address: gw.lan },
  };
}

/** `ip` argv lists that build the segment (its namespace exists already): bridge, the router's lan0, the members' interfaces. */
export function planLanSegment(lan: LanSegmentLayout): string[][] {
  const inLan = (...args: string[]) => ['ip', '-n', lan.netns, ...args];
  const steps = [
    // No multicast snooping: announcements reach every port whether or not MLD reports were seen.
    inLan('link', 'add', lan.bridge, 'type', 'bridge', 'mcast_snooping', '0'),
    inLan('addr', 'add', `${lan.bridgeAddress}/24`, 'dev', lan.bridge),
    inLan('link', 'set', lan.bridge, 'up'),
  ];
  const port = (host: string, netns: string, ifName: string, address: string) => {
    const portName = `l-${host}`;
    steps.push(
      ['ip', 'link', 'add', ifName, 'netns', netns, 'type', 'veth', 'peer', 'name', portName, 'netns', lan.netns],
      inLan('link', 'set', portName, 'master', lan.bridge, 'up'),
      ['ip', '-n', netns, 'addr', 'add', `${address}/24`, 'dev', ifName],
      ['ip', '-n', netns, 'link', 'set', ifName, 'up'],
    );
  };
  if (lan.router) port(lan.router.name, lan.router.netns, 'lan0', lan.router.address);
  for (const m of lan.members) port(m.node, m.netns, lan.ifName, m.address);
  return steps;
}

/** The [lan] table of a LAN member's resilnet.toml; nothing for other nodes. */
export function lanConfigPatch(lan: LanSegmentLayout | undefined, node: string): Record<string, Record<string, unknown>> {
  if (!lan?.members.some((m) => m.node === node)) return {};
  return { lan: { interfaces: [lan.ifName], interval: LAB_LAN_INTERVAL_SEC } };
}
