// What the node tells the registry in each heartbeat.
import type { Heartbeat } from '../../wire/registry-api.js';
import type { AddressAnnouncer } from '../addresses/announcer.js';
import type { NatMonitor } from '../nat/nat-monitor.js';
import type { PeerDb } from '../peers/peer-db.js';
import type { TunnelManager } from '../tunnels/manager.js';

export interface HeartbeatSources {
  port: number;
  /** resilnet.toml underlay.addresses, announced as they are before the announcer runs. */
  configured: readonly string[];
  addresses: AddressAnnouncer | undefined;
  tunnels: TunnelManager | undefined;
  peerDb: PeerDb | undefined;
  configVersion: number;
  /** Absent before the NAT monitor runs: the heartbeat then carries no class. */
  nat?: Pick<NatMonitor, 'natClass'> | undefined;
}

export function heartbeatBody(s: HeartbeatSources): Heartbeat {
  return {
    port: s.port,
    addresses: s.addresses?.heartbeatAddresses() ?? s.configured.map((a) => ({ address: a, kind: 'configured' as const })),
    tunnels: (s.tunnels?.list() ?? []).map((t) => ({
      peer: t.peer,
      role: t.direction === 'outgoing' ? ('client' as const) : ('server' as const),
      iface: t.ifName,
      rx_bytes: Math.round(t.rx?.last.rxBytes ?? 0),
      tx_bytes: Math.round(t.tx?.last.txBytes ?? 0),
      rtt_ms: s.peerDb?.getPeer(t.peer)?.rttMs ?? null,
    })),
    network_config_version: s.configVersion,
    protocol_version: 1,
    ...(s.nat ? { natClass: s.nat.natClass() } : {}),
  };
}
