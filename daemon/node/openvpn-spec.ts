// The openvpn command line for one end of a tunnel, from the node's settings.
import { join } from 'node:path';
import { linkLocalFor } from '../identity.js';
import { buildOpenvpnArgv, DEFAULT_TUN_MTU } from '../openvpn/argv.js';
import type { Settings } from '../settings.js';
import type { TunnelEnd } from '../tunnels/manager.js';

export function openvpnArgv(end: TunnelEnd, node: { settings: Settings; prefix: string; upScript: string }): string[] {
  const { start, tunnels } = node.settings;
  return buildOpenvpnArgv({
    endpoint:
      end.role === 'server'
        ? { role: 'server', listenPort: end.localPort! }
        : { role: 'client', remoteHost: end.remote!.host, remotePort: end.remote!.port },
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
    keepaliveIntervalSec: 1,
    keepaliveTimeoutSec: 5,
    managementSocket: join(start.runDir, `${end.ifName}.mgmt`),
    verbosity: 3,
  });
}
