// The openvpn command line for one tunnel end, as data. One point-to-point TLS
// process per tunnel with its own tun (docs/decisions.md): in p2p mode openvpn hands
// every packet to the single peer, so babel's link-local hellos get through.
// REPORT.md §2 (netlab) is the source of every option here.

export type TunnelEndpoint =
  /** Listens for one peer (the tls-server end). */
  | { role: 'server'; listenPort: number; /** Local underlay address to bind; omit to bind all. */ localAddress?: string }
  /**
   * Connects to the peer (the tls-client end). `localPort`: bind that UDP port instead of
   * any (a punched tunnel: the NAT mapping learned by STUN belongs to that port).
   */
  | { role: 'client'; remoteHost: string; remotePort: number; localPort?: number };

export interface TunnelSpec {
  endpoint: TunnelEndpoint;
  proto: 'udp' | 'tcp';
  /** tun device name (≤ 15 chars), from `tunnelIfName(peerPrefix)`. */
  ifName: string;
  /** The peer's prefix in canonical CIDR text: its certificate CN must be exactly this. */
  peerPrefix: string;
  caPath: string;
  certPath: string;
  keyPath: string;
  crlPath: string;
  /** e.g. ['AES-256-GCM', 'CHACHA20-POLY1305']; empty keeps openvpn's default list. */
  dataCiphers: string[];
  tunMtu: number;
  /** The --up script (see writeUpScript) and the link-local address it assigns. */
  upScriptPath: string;
  linkLocal: string;
  keepaliveIntervalSec: number;
  keepaliveTimeoutSec: number;
  /** Unix socket of the management interface (absolute path). */
  managementSocket: string;
  verbosity: number;
}

export const DEFAULT_TUN_MTU = 1400;

/** Builds the argv (argv[0] = 'openvpn'). Pure. */
export function buildOpenvpnArgv(spec: TunnelSpec): string[] {
  const argv: string[] = ['openvpn'];
  const opt = (...parts: Array<string | number>): void => {
    argv.push(...parts.map(String));
  };
  opt('--dev-type', 'tun');
  opt('--dev', spec.ifName);
  opt('--tun-mtu', spec.tunMtu);
  const ep = spec.endpoint;
  if (ep.role === 'server') {
    opt('--proto', spec.proto === 'udp' ? 'udp' : 'tcp-server');
    opt('--tls-server');
    opt('--dh', 'none');
    if (ep.localAddress !== undefined) opt('--local', ep.localAddress);
    opt('--lport', ep.listenPort);
    // A restarted client comes back from a new source port; accept it once it authenticates.
    opt('--float');
    opt('--remote-cert-tls', 'client');
  } else {
    opt('--proto', spec.proto === 'udp' ? 'udp' : 'tcp-client');
    opt('--tls-client');
    opt('--remote', ep.remoteHost, ep.remotePort);
    if (ep.localPort !== undefined) opt('--lport', ep.localPort);
    else opt('--nobind');
    opt('--remote-cert-tls', 'server');
  }
  // The peer must be the node we meant: its CN is its prefix.
  opt('--verify-x509-name', spec.peerPrefix, 'name');
  opt('--ca', spec.caPath);
  opt('--cert', spec.certPath);
  opt('--key', spec.keyPath);
  opt('--crl-verify', spec.crlPath);
  if (spec.dataCiphers.length > 0) opt('--data-ciphers', spec.dataCiphers.join(':'));
  opt('--script-security', 2);
  opt('--up', spec.upScriptPath);
  opt('--setenv', 'LL', spec.linkLocal);
  // No --up-delay: the tun opens at start. With it, openvpn 2.6 opens the tun and declares the
  // tunnel up only at its next one-second check after the handshake (about 1.1 s later,
  // measured); without, about 0.05-0.3 s after. babeld's hellos into a tunnel not connected
  // yet are lost either way: the daemon greets the peer's babeld once the tunnel is up.
  opt('--keepalive', spec.keepaliveIntervalSec, spec.keepaliveTimeoutSec);
  // On a clean stop the peer learns it at once instead of waiting for ping-restart.
  if (spec.proto === 'udp') opt('--explicit-exit-notify', 1);
  opt('--management', spec.managementSocket, 'unix');
  opt('--verb', spec.verbosity);
  // Lines go through the supervisor's logger, which stamps them itself.
  opt('--suppress-timestamps');
  return argv;
}

/** One option per line, for golden tests and logs. */
export function renderArgv(argv: string[]): string {
  const lines: string[] = [];
  for (const arg of argv) {
    if (arg.startsWith('--') || lines.length === 0) lines.push(arg);
    else lines[lines.length - 1] += ` ${/\s/.test(arg) || arg === '' ? JSON.stringify(arg) : arg}`;
  }
  return lines.join('\n') + '\n';
}
