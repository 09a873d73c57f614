// Which port a tunnel-accept names (pure). The server end listens on a port of
// the tunnel range; a peer connects to that port at the address it sent its
// tunnel-request to. When the request crossed our UPnP router, that address is
// the router's, and the router forwards the mapping's *external* port, which
// differs from ours after a conflict (port-choice.ts): answering the internal
// port there sends the peer to a port that is unmapped, or mapped to another host.
//
// We cannot see which of our addresses a datagram was sent to (the socket does
// not report it), so the request's source decides:
//   - IPv6, or an address in a subnet of one of our interfaces: it came over the
//     LAN (or needs no NAT), so the internal port is right;
//   - any other IPv4 source came in through the router: the external port of the
//     tunnel port's UDP mapping, when the gateway holds one.
// Known gap: a LAN peer that dialled our external address through a hairpinning
// router shows up with a LAN source (the router's or its own) and gets the
// internal port; peers on one LAN dial LAN addresses first (addresses.ts orderForDial).
import { isIPv4 } from 'node:net';
import { inCidr } from '../addresses/addresses.js';
import type { PortProtocol } from './port-mapper.js';

export interface MappedPorts {
  mappings: readonly { protocol: PortProtocol; internalPort: number; externalPort: number }[];
}

export function tunnelPortForPeer(input: {
  /** The local port the server end listens on. */
  port: number;
  /** Where the tunnel-request came from. */
  fromHost: string;
  /** What the UPnP gateway maps for us now (undefined: nothing). */
  mapped: MappedPorts | undefined;
  /** Our interfaces' subnets ("IP/LEN", null when unknown). */
  localCidrs: readonly (string | null)[];
}): number {
  const { port, fromHost, mapped } = input;
  if (mapped === undefined || !isIPv4(fromHost)) return port;
  if (input.localCidrs.some((c) => c !== null && inCidr(fromHost, c))) return port;
  const m = mapped.mappings.find((x) => x.protocol === 'UDP' && x.internalPort === port);
  return m?.externalPort ?? port;
}
