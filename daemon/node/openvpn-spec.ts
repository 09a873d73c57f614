// The openvpn command line for one end of a tunnel, from the node's settings.
import { join } from 'node:path';
import { linkLocalFor } from '../identity.js';
import { buildOpenvpnArgv, DEFAULT_TUN_MTU } from '../openvpn/argv.js';
import type { Settings } from '../settings.js';
import type { TunnelEnd } from '../tunnels/manager.js';

/**
 * openvpn's own keepalive. With link liveness on, the daemon finds a silent link within about a
 * second and restarts a lost end itself (liveness.ts), so openvpn's restart is only a last resort:
 * a short one restarts TLS sessions of every tunnel of a host whose CPU is starved for a few
 * seconds, and those handshakes starve it further (32-node lab at load 400+: ~150 restarts per
 * node in 8 minutes, and the network never formed). Without link liveness, openvpn's keepalive
 * is what notices a peer that restarted.
 */
export function openvpnKeepalive(linkHelloIntervalSec: number): { intervalSec: number; timeoutSec: number } {
  return linkHelloIntervalSec > 0 ? { intervalSec: 10, timeoutSec: 60 } : { intervalSec: 1, timeoutSec: 5 };
}

export function openvpnArgv(end: TunnelEnd, node: { settings: Settings; prefix: string; upScript: string }): string[] {
  const { start, tunnels, links } = node.settings;
  const keepalive = openvpnKeepalive(links.helloIntervalSec);
  return buildOpenvpnArgv({
    endpoint:
      end.role === 'server'
        ? { role: 'server', listenPort: end.localPort! }
        : { role: 'client', remoteHost: end.remote!.host, remotePort: end.remote!.port, ...(end.localPort !== undefined ? { localPort: end.localPort } : {}) },
    proto: 'udp',
    ifName: end.ifName,
    peerPrefix: end.peer,
    caPath: start.identity.ca,
    certPath: start.identity.cert,
    keyPath: start.identity.key,
    crlPath: join(start.runDir, 'crl.pem'),
    dataCiphers: [...tunnels.dataCiphers],
    tunMtu: DEFAULT_TUN_MTU,
    upScriptPath: node.upScript,
    linkLocal: linkLocalFor(node.prefix),
    keepaliveIntervalSec: keepalive.intervalSec,
    keepaliveTimeoutSec: keepalive.timeoutSec,
    managementSocket: join(start.runDir, `${end.ifName}.mgmt`),
    verbosity: 3,
  });
}
