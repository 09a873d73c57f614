// The NAT router's configuration texts (pure): the nftables ruleset (masquerade
// plus the empty chains miniupnpd fills; it fails with 501 without them) and the
// miniupnpd config. miniupnpd refuses port forwarding on a private WAN address
// unless a STUN probe says the NAT in front is 1:1, so each router points it at
// the stund running on the lab's internet bridge (see reference/deps.md).
//
// Two kinds of router: `eim` masquerades with `persistent`, so a LAN socket keeps
// one external address:port whatever it sends to (endpoint-independent mapping,
// what hole punching needs); `apdm` masquerades `fully-random`, so every new
// destination gets a fresh random external port (address-and-port-dependent).
import type { GatewayLayout, LabLayout, NatKind } from './layout.js';
import { STUN_PORT } from './layout.js';

export const UPNP_HTTP_PORT = 5555;

/** The masquerade flags of each kind of router. */
export const MASQUERADE_FLAGS: Record<NatKind, string> = { eim: 'persistent', apdm: 'fully-random' };

/**
 * The router's ruleset. Without UPnP it also drops unsolicited packets from the
 * WAN to the router itself, as home routers do. That matters for hole punching:
 * an accepted one (answered by an ICMP error) leaves a conntrack entry for the
 * peer's early datagram, and the router's masquerade then finds the client's own
 * flow to that peer taken and maps it to another port than STUN saw.
 */
export function gatewayRuleset(gw: GatewayLayout, kind: NatKind = 'eim', options: { upnp?: boolean } = {}): string {
  // A router whose firewall drops new WAN traffic before its UPnP forwards (LabSpec.upnpDrop):
  // miniupnpd still grants mappings, but nothing reaches them.
  const dropMapped = gw.dropsMapped === true ? ['    iifname "wan0" drop;'] : [];
  const input =
    options.upnp === false
      ? [
          '  chain input {',
          '    type filter hook input priority 0; policy accept;',
          '    iifname "wan0" ct state established,related accept;',
          '    iifname "wan0" meta l4proto icmp accept;',
          '    iifname "wan0" drop;',
          '  }',
        ]
      : [];
  return [
    'table inet filter {',
    ...input,
    '  chain forward {',
    '    type filter hook forward priority 0; policy drop;',
    '    ct state established,related accept;',
    '    iifname "lan0" accept;',
    ...dropMapped,
    '    jump miniupnpd;',
    '  }',
    '  chain miniupnpd { }',
    '  chain prerouting { type nat hook prerouting priority -100; policy accept; jump prerouting_miniupnpd; }',
    '  chain postrouting {',
    '    type nat hook postrouting priority 100; policy accept;',
    '    jump postrouting_miniupnpd;',
    `    oifname "wan0" ip saddr ${gw.lanSubnet} masquerade ${MASQUERADE_FLAGS[kind]};`,
    '  }',
    '  chain prerouting_miniupnpd { }',
    '  chain postrouting_miniupnpd { }',
    '}',
    '',
  ].join('\n');
}

/** What a node behind a lab router gets in its resilnet.toml: the lab's stund, so it learns its NAT class and tunnel ports' mappings. */
export function natConfigPatch(layout: LabLayout, node: string): Record<string, Record<string, unknown>> {
  const n = layout.nodes.find((x) => x.name === node);
  return n?.gateway === undefined ? {} : { nat: { stun: [`${layout.inet.bridgeAddress}:${STUN_PORT}`] } };
}

export function miniupnpdConfig(layout: LabLayout, gw: GatewayLayout, leaseFile: string): string {
  // uuid: stable per lab and router, so two routers never share one.
  const idHex = Buffer.from(`${layout.id}`.padEnd(10, '0')).toString('hex').slice(0, 12).padEnd(12, '0');
  const uuid = `3d3cec3a-8cf0-11e0-${(0x9800 + gw.index).toString(16)}-${idHex}`;
  return [
    'ext_ifname=wan0',
    'listening_ip=lan0',
    `http_port=${UPNP_HTTP_PORT}`,
    'enable_upnp=yes',
    'enable_natpmp=yes',
    'ext_perform_stun=yes',
    `ext_stun_host=${layout.inet.bridgeAddress}`,
    `ext_stun_port=${STUN_PORT}`,
    'secure_mode=yes',
    'system_uptime=no',
    'ipv6_disable=yes',
    'min_lifetime=120',
    'max_lifetime=86400',
    `lease_file=${leaseFile}`,
    `uuid=${uuid}`,
    `friendly_name=resilnet lab ${layout.id} ${gw.name}`,
    `allow 1024-65535 ${gw.lanSubnet} 1024-65535`,
    'deny 0-65535 0.0.0.0/0 0-65535',
    '',
  ].join('\n');
}
