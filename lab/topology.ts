// The lab's network as a plan of `ip`/`nft`/`sysctl` commands (pure), so a test
// can read exactly what will be done, and the executor just runs the list.
import type { LabLayout } from './layout.js';
import { labNamespaces } from './layout.js';
import { planLanSegment } from './lan.js';
import { gatewayRuleset } from './nat.js';

export interface LabStep {
  argv: string[];
  /** Fed to the command's stdin (nft -f -). */
  stdin?: string;
}

const ip = (...args: string[]): LabStep => ({ argv: ['ip', ...args] });
const inNs = (netns: string, ...argv: string[]): LabStep => ({ argv: ['ip', 'netns', 'exec', netns, ...argv] });

/** One veth pair between two namespaces, both ends named inside their namespace. */
function veth(nsA: string, ifA: string, nsB: string, ifB: string): LabStep[] {
  return [ip('link', 'add', ifA, 'netns', nsA, 'type', 'veth', 'peer', 'name', ifB, 'netns', nsB)];
}

export function planTopology(layout: LabLayout): LabStep[] {
  const steps: LabStep[] = [];
  const inet = layout.inet.netns;
  const prefixLen = layout.inet.subnet.split('/')[1];
  for (const netns of labNamespaces(layout)) {
    steps.push(ip('netns', 'add', netns), ip('-n', netns, 'link', 'set', 'lo', 'up'));
  }
  // The "internet": one bridge; it also carries the two STUN server addresses.
  steps.push(
    ip('-n', inet, 'link', 'add', layout.inet.bridge, 'type', 'bridge'),
    ip('-n', inet, 'addr', 'add', `${layout.inet.bridgeAddress}/${prefixLen}`, 'dev', layout.inet.bridge),
    ip('-n', inet, 'addr', 'add', `${layout.inet.stunAlternate}/${prefixLen}`, 'dev', layout.inet.bridge),
    ip('-n', inet, 'link', 'set', layout.inet.bridge, 'up'),
  );
  const attach = (netns: string, ifName: string, port: string, address: string) => {
    steps.push(
      ...veth(netns, ifName, inet, port),
      ip('-n', inet, 'link', 'set', port, 'master', layout.inet.bridge, 'up'),
      ip('-n', netns, 'addr', 'add', `${address}/${prefixLen}`, 'dev', ifName),
      ip('-n', netns, 'link', 'set', ifName, 'up'),
    );
  };
  attach(layout.registry.netns, 'eth0', 'v-reg', layout.registry.underlay);
  for (const node of layout.nodes) {
    if (!node.gateway) attach(node.netns, 'eth0', `v-${node.name}`, node.underlay);
  }
  for (const gw of layout.gateways) {
    attach(gw.netns, 'wan0', `v-${gw.name}`, gw.wan);
    const members = layout.nodes.filter((n) => gw.nodes.includes(n.name));
    if (layout.natLan?.router?.name === gw.name) {
      // Its LAN is a segment (a bridge) that all its nodes share.
      steps.push(...planLanSegment(layout.natLan).map((argv) => ({ argv })));
    } else {
      for (const node of members) {
        steps.push(
          ...veth(gw.netns, 'lan0', node.netns, 'eth0'),
          ip('-n', gw.netns, 'addr', 'add', `${gw.lan}/24`, 'dev', 'lan0'),
          ip('-n', gw.netns, 'link', 'set', 'lan0', 'up'),
          ip('-n', node.netns, 'addr', 'add', `${node.underlay}/24`, 'dev', 'eth0'),
          ip('-n', node.netns, 'link', 'set', 'eth0', 'up'),
        );
      }
    }
    for (const node of members) {
      steps.push(
        // Only the lab's internet is reachable through the router: no default route.
        ip('-n', node.netns, 'route', 'add', layout.inet.subnet, 'via', gw.lan),
        // SSDP multicast goes out on the LAN.
        ip('-n', node.netns, 'route', 'add', '239.0.0.0/8', 'dev', 'eth0'),
      );
    }
    steps.push(
      inNs(gw.netns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1'),
      { argv: ['ip', 'netns', 'exec', gw.netns, 'nft', '-f', '-'], stdin: gatewayRuleset(gw, layout.spec.natKind, { upnp: layout.spec.upnp !== false }) },
    );
  }
  if (layout.lan) steps.push(...planLanSegment(layout.lan).map((argv) => ({ argv })));
  return steps;
}

/** Deleting a namespace removes its interfaces, routes and nft rules with it. */
export function planNamespaceRemoval(namespaces: string[]): LabStep[] {
  return [...namespaces].reverse().map((netns) => ip('netns', 'del', netns));
}

export function renderSteps(steps: LabStep[]): string {
  return steps.map((s) => s.argv.join(' ') + (s.stdin ? ' <<EOF\n' + s.stdin + 'EOF' : '')).join('\n');
}
