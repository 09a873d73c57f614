// Hole punching wired to the node: real STUN from the tunnel's own port, real
// datagrams towards the peer, the peer protocol over the overlay. node.ts calls
// startPunching once the tunnel manager and the NAT monitor exist.
import { createSocket } from 'node:dgram';
import { nodeAddress, parsePrefix } from '../../config/ipv6.js';
import type { PeerProtocol } from '../peerproto/protocol.js';
import type { Clock } from '../sys/clock.js';
import type { NatClass } from './classify.js';
import { parseV4Endpoint } from '../sys/host-port.js';
import type { PeerNatClasses } from './peer-classes.js';
import { Puncher, type PunchServer, type TunnelPuncher } from './punch-session.js';
import { openStunSocket, parseStunServer, type StunServer } from './stun-client.js';

/** One datagram's payload: any bytes do; these name what they are in a capture. */
const PUNCH_PAYLOAD = Buffer.from('resilnet punch');

export function startPunching(d: {
  clock: Clock;
  log: { info(obj: object, msg: string): void; debug(obj: object, msg: string): void };
  peerproto: Pick<PeerProtocol, 'request' | 'setHandler'>;
  manager: PunchServer & { setPuncher(p: TunnelPuncher): void };
  natClass: () => NatClass | null;
  stun: readonly string[];
  /** The peer-protocol port of peers (the same on every node unless configured otherwise). */
  peerPort: number;
  /** Peers' classes, also fed by the registry's bootstrap answers. */
  classes: PeerNatClasses;
}): Puncher {
  const servers = d.stun.map(parseStunServer);
  const puncher = new Puncher({
    clock: d.clock,
    log: d.log,
    selfClass: d.natClass,
    overlayAddress: (peer) => ({ host: nodeAddress(parsePrefix(peer)), port: d.peerPort, prefix: peer }),
    request: (to, msg, options) => d.peerproto.request(to, msg, options),
    mappedEndpoint: (port, signal) => mappedEndpoint(servers, port, signal),
    sendFrom,
    classes: d.classes,
  });
  puncher.listen(d.peerproto, d.manager);
  d.manager.setPuncher(puncher);
  return puncher;
}

/** Our public endpoint for a local UDP port: the first STUN server that answers a probe sent from it. */
export async function mappedEndpoint(servers: readonly StunServer[], localPort: number, signal?: AbortSignal): Promise<string> {
  if (servers.length === 0) throw new Error('no STUN server configured ([nat] stun in resilnet.toml): the public endpoint of a tunnel port cannot be learned');
  const socket = await openStunSocket({ localPort, ...(signal ? { signal } : {}) });
  const errors: string[] = [];
  try {
    for (const server of servers) {
      const r = await socket.probe(server);
      if (r.ok && r.mapped.family === 'IPv4') return `${r.mapped.address}:${r.mapped.port}`;
      errors.push(r.ok ? `${server.host} answered with IPv6` : `${server.host}: ${r.error}`);
    }
  } finally {
    socket.close();
  }
  throw new Error(`no STUN answer from port ${localPort} (${errors.join('; ')})`);
}

/** Sends `count` datagrams from the local UDP port to "IP:PORT", then closes the socket (the port is free again for openvpn). */
export async function sendFrom(localPort: number, to: string, count: number): Promise<void> {
  const dest = parseV4Endpoint(to);
  if (dest === undefined) throw new Error(`cannot send to ${to}: not an IPv4 "IP:PORT"`);
  const socket = createSocket({ type: 'udp4' });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(localPort, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    for (let i = 0; i < count; i++) {
      await new Promise<void>((resolve, reject) => socket.send(PUNCH_PAYLOAD, dest.port, dest.host, (err) => (err ? reject(err) : resolve())));
    }
  } finally {
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
}
