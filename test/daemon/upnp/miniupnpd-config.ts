// Text builders for a miniupnpd (nftables) test gateway, following the recipe in
// ../shared/reference/deps.md ("miniupnpd lab recipe"). Pure, with no test-framework
// imports, so lab/ can build its NAT router from the same text.

export interface MiniupnpdConfSpec {
  /** WAN interface inside the gateway namespace, e.g. "wan0". */
  extIfName: string;
  /** LAN interface miniupnpd listens on, e.g. "lan0". */
  lanIfName: string;
  /** LAN subnet allowed to map, e.g. "10.79.0.0/24". */
  lanCidr: string;
  /** STUN server in the WAN namespace. miniupnpd refuses to forward when its WAN
   *  address is private or reserved unless a STUN probe shows it is 1:1 (deps.md gotcha 1). */
  stunHost: string;
  stunPort?: number;
  httpPort: number;
  /** Absolute path; miniupnpd deletes the file when no mapping is left. */
  leaseFile: string;
  uuid: string;
  /** true emulates an IGDv1-only router (force_igd_desc_v1=yes); default IGDv2. */
  igdV1: boolean;
  friendlyName?: string;
  minLifetimeSec?: number;
  maxLifetimeSec?: number;
}

export function buildMiniupnpdConf(spec: MiniupnpdConfSpec): string {
  return [
    `ext_ifname=${spec.extIfName}`,
    `listening_ip=${spec.lanIfName}`,
    `http_port=${spec.httpPort}`,
    'enable_upnp=yes',
    'enable_natpmp=no',
    'ext_perform_stun=yes',
    `ext_stun_host=${spec.stunHost}`,
    `ext_stun_port=${spec.stunPort ?? 3478}`,
    // Clients may map only to their own address.
    'secure_mode=yes',
    'system_uptime=no',
    'ipv6_disable=yes',
    `force_igd_desc_v1=${spec.igdV1 ? 'yes' : 'no'}`,
    `min_lifetime=${spec.minLifetimeSec ?? 120}`,
    `max_lifetime=${spec.maxLifetimeSec ?? 86400}`,
    `lease_file=${spec.leaseFile}`,
    `uuid=${spec.uuid}`,
    `friendly_name=${spec.friendlyName ?? 'resilnet test gateway'}`,
    `allow 1024-65535 ${spec.lanCidr} 1024-65535`,
    'deny 0-65535 0.0.0.0/0 0-65535',
    '',
  ].join('\n');
}

/**
 * The nftables table and chains miniupnpd 2.3 (Debian, nftables backend) expects;
 * without them AddPortMapping fails with 501 ActionFailed (deps.md gotcha 2).
 * Forwarding: LAN out, replies back, and whatever miniupnpd's chain accepts.
 */
export function buildNftSkeleton(spec: { lanIfName: string }): string {
  return `table inet filter {
  chain forward { type filter hook forward priority 0; policy drop; ct state established,related accept; iifname "${spec.lanIfName}" accept; jump miniupnpd; }
  chain miniupnpd { }
  chain prerouting { type nat hook prerouting priority -100; policy accept; jump prerouting_miniupnpd; }
  chain postrouting { type nat hook postrouting priority 100; policy accept; jump postrouting_miniupnpd; }
  chain prerouting_miniupnpd { }
  chain postrouting_miniupnpd { }
}
`;
}

/** argv for miniupnpd in the foreground (logs to stderr) with its own pidfile. */
export function buildMiniupnpdArgv(spec: { confPath: string; pidPath: string }): string[] {
  return ['miniupnpd', '-f', spec.confPath, '-d', '-P', spec.pidPath];
}

/** argv for Debian's stund; CHANGE-REQUEST needs two addresses. */
export function buildStundArgv(spec: { primaryIp: string; alternateIp: string }): string[] {
  return ['stund', '-h', spec.primaryIp, '-a', spec.alternateIp];
}

export interface LeaseLine {
  protocol: string;
  externalPort: number;
  internalIp: string;
  internalPort: number;
  /** Expiry as miniupnpd writes it (seconds; 0 = permanent). */
  expiresAtSec: number;
  description: string;
}

/** Parses miniupnpd's lease file ("UDP:1194:10.79.0.2:1194:1732200000:resilnet" per line). */
export function parseLeaseFile(text: string): LeaseLine[] {
  const out: LeaseLine[] = [];
  for (const line of text.split('\n')) {
    const parts = line.trim().split(':');
    if (parts.length < 6) continue;
    const [protocol, ext, ip, int, exp, ...desc] = parts as [string, string, string, string, string, ...string[]];
    out.push({
      protocol,
      externalPort: Number(ext),
      internalIp: ip,
      internalPort: Number(int),
      expiresAtSec: Number(exp),
      description: desc.join(':'),
    });
  }
  return out;
}
