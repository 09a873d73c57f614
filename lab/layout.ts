// The lab's requested shape turned into names and addresses (pure). Every name
// starts with rn<ID>- so two labs never collide, and every address lives inside
// the lab's own namespaces: underlay 10.X.0.0/20 on the "internet" bridge, one
// 10.X.(16+k).0/24 LAN behind each NAT router (one LAN behind one router shared
// by every NATed node with `natLan`), overlay a ULA /48.
import { createHash } from 'node:crypto';
import { LabError } from './errors.js';
import { lanSegmentLayout, natLanSegmentLayout, type LanSegmentLayout } from './lan.js';

export const LAB_ID_PATTERN = /^[a-z0-9]{1,10}$/;
export const REGISTRY_PORT = 8443;
export const STUN_PORT = 3478;

export interface LabSpec {
  id: string;
  /** Number of node hosts (n1…nN). */
  nodes: number;
  /** How many of them (the last ones) sit behind their own NAT router (behind one shared router with `natLan`). */
  nat: number;
  /**
   * The NATed nodes share one router (gw1) and one LAN segment behind it, and
   * run LAN discovery on it (default false: one router and LAN per NATed node).
   */
  natLan?: boolean;
  /** How many public nodes (n1…) also share one LAN segment (0: none). */
  lan?: number;
  /** How those routers map ports (default eim); see lab/nat.ts. */
  natKind?: NatKind;
  /** Whether the routers run miniupnpd (default true). */
  upnp?: boolean;
  /**
   * How many of the routers (the last ones) map ports over UPnP but drop what
   * arrives on the mappings, as a router whose firewall sits in front of its
   * port forwards does (default 0).
   */
  upnpDrop?: number;
}

/** eim: endpoint-independent mapping (hole-punchable); apdm: address-and-port-dependent (port-randomising). */
export const NAT_KINDS = ['eim', 'apdm'] as const;
export type NatKind = (typeof NAT_KINDS)[number];

export interface HostLayout {
  name: string;
  netns: string;
  /** Underlay IPv4 address of the host's own interface (eth0). */
  underlay: string;
}

export interface NodeLayout extends HostLayout {
  index: number;
  /** Name of the NAT router in front of this node, when it has one. */
  gateway?: string;
}

export interface GatewayLayout {
  name: string;
  netns: string;
  index: number;
  /** Address on the internet bridge (wan0). */
  wan: string;
  /** Address on the LAN towards its node (lan0). */
  lan: string;
  lanSubnet: string;
  /** The nodes behind it: one, or every NATed node with `natLan`. */
  nodes: string[];
  /** Maps ports over UPnP but drops what arrives on them (LabSpec.upnpDrop). */
  dropsMapped?: boolean;
}

export interface LabLayout {
  id: string;
  spec: LabSpec;
  inet: { netns: string; bridge: string; subnet: string; bridgeAddress: string; stunAlternate: string };
  registry: HostLayout & { url: string };
  nodes: NodeLayout[];
  gateways: GatewayLayout[];
  /** The overlay network prefix handed to `registry init`. */
  overlayPrefix: string;
  /** The shared LAN segment (`--lan K`), when there is one. */
  lan?: LanSegmentLayout;
  /** The LAN segment behind the one shared router (`natLan`), when there is one. */
  natLan?: LanSegmentLayout;
}

export const MAX_NODES = 200;

export function validateLabId(id: string): string {
  if (!LAB_ID_PATTERN.test(id)) {
    throw new LabError('RN_LAB_BAD_NAME', `invalid lab name: ${JSON.stringify(id)} (use 1-10 lowercase letters or digits). Try: --name demo`);
  }
  return id;
}

/** Second octet of the underlay and the /48 overlay, both derived from the id. */
function idHash(id: string): Buffer {
  return createHash('sha256').update(`resilnet-lab:${id}`).digest();
}

export function labLayout(spec: LabSpec): LabLayout {
  const id = validateLabId(spec.id);
  if (!Number.isInteger(spec.nodes) || spec.nodes < 2 || spec.nodes > MAX_NODES) {
    throw new LabError('RN_LAB_BAD_NAME', `invalid node count: ${spec.nodes} (use 2-${MAX_NODES}).`);
  }
  if (!Number.isInteger(spec.nat) || spec.nat < 0 || spec.nat > spec.nodes - 1) {
    throw new LabError('RN_LAB_BAD_NAME', `invalid NAT count: ${spec.nat} (use 0-${spec.nodes - 1}: at least one node must be public).`);
  }
  if (spec.natKind !== undefined && !NAT_KINDS.includes(spec.natKind)) {
    throw new LabError('RN_LAB_BAD_NAME', `invalid NAT kind: ${JSON.stringify(spec.natKind)} (use ${NAT_KINDS.join(' or ')}).`);
  }
  if (spec.natLan && spec.nat < 2) {
    throw new LabError('RN_LAB_BAD_NAME', `invalid --nat-lan with ${spec.nat} NATed node(s): it puts the NATed nodes on one LAN behind one router, so use --nat 2 or more.`);
  }
  const routers = spec.natLan ? Math.min(spec.nat, 1) : spec.nat;
  const upnpDrop = spec.upnpDrop ?? 0;
  if (!Number.isInteger(upnpDrop) || upnpDrop < 0 || upnpDrop > routers || (upnpDrop > 0 && spec.upnp === false)) {
    throw new LabError('RN_LAB_BAD_NAME', `invalid --upnp-drop ${upnpDrop} (use 0-${routers}, the number of NAT routers, and not with --no-upnp).`);
  }
  const h = idHash(id);
  const x = 16 + ((h[0] ?? 0) % 224);
  const net = `10.${x}`;
  const ns = (suffix: string) => `rn${id}-${suffix}`;
  const firstNat = spec.nodes - spec.nat + 1;
  const nodes: NodeLayout[] = [];
  const gateways: GatewayLayout[] = [];
  const router = (k: number): GatewayLayout => ({
    name: `gw${k}`,
    netns: ns(`gw${k}`),
    index: k,
    wan: `${net}.2.${k}`,
    lan: `${net}.${16 + k}.1`,
    lanSubnet: `${net}.${16 + k}.0/24`,
    nodes: [],
    ...(k > routers - upnpDrop ? { dropsMapped: true } : {}),
  });
  for (let i = 1; i <= spec.nodes; i++) {
    const name = `n${i}`;
    if (i >= firstNat) {
      // Behind router k, at .2 of its LAN; with natLan every NATed node is behind gw1, at .2, .3, …
      const k = spec.natLan ? 1 : i - firstNat + 1;
      const host = spec.natLan ? i - firstNat + 2 : 2;
      let gw = gateways.find((g) => g.index === k);
      if (!gw) gateways.push((gw = router(k)));
      gw.nodes.push(name);
      nodes.push({ name, netns: ns(name), index: i, underlay: `${net}.${16 + k}.${host}`, gateway: gw.name });
    } else {
      nodes.push({ name, netns: ns(name), index: i, underlay: `${net}.1.${i}` });
    }
  }
  const hex = h.subarray(1, 5).toString('hex');
  const lan = lanSegmentLayout(spec.lan ?? 0, { net, ns, nodes });
  const natLan = spec.natLan && gateways[0] ? natLanSegmentLayout(gateways[0], { ns, nodes }) : undefined;
  return {
    id,
    spec: { ...spec },
    inet: {
      netns: ns('inet'),
      bridge: 'br0',
      subnet: `${net}.0.0/20`,
      bridgeAddress: `${net}.0.1`,
      stunAlternate: `${net}.0.254`,
    },
    registry: {
      name: 'reg',
      netns: ns('reg'),
      underlay: `${net}.0.2`,
      url: `https://${net}.0.2:${REGISTRY_PORT}`,
    },
    nodes,
    gateways,
    overlayPrefix: `fd${hex.slice(0, 2)}:${hex.slice(2, 6)}:${hex.slice(6, 8)}00::/48`,
    ...(lan ? { lan } : {}),
    ...(natLan ? { natLan } : {}),
  };
}

/** Every namespace of the lab, the internet first. */
export function labNamespaces(layout: LabLayout): string[] {
  return [layout.inet.netns, layout.registry.netns, ...layout.gateways.map((g) => g.netns), ...layout.nodes.map((n) => n.netns), ...[layout.lan, layout.natLan].flatMap((l) => (l ? [l.netns] : []))];
}
