// The UDP seam of the peer protocol: a narrow socket interface, and the real one
// on node:dgram. One udp6 socket bound to "::" with ipv6Only false serves the
// underlay over IPv4 (as v4-mapped addresses) and the overlay over IPv6 on one port.
import { createSocket, type Socket, type SocketOptions } from 'node:dgram';
import { lookup as dnsLookup } from 'node:dns';
import { isIP, isIPv4 } from 'node:net';

export interface UdpEndpoint {
  /** IPv4 dotted quad or IPv6 text (no brackets); v4-mapped addresses come back as IPv4. */
  host: string;
  port: number;
}

export interface UdpSocket {
  /** Binds and resolves with the bound port (useful when asking for port 0). */
  bind(port: number, host: string): Promise<UdpEndpoint>;
  send(data: Buffer, to: UdpEndpoint): Promise<void>;
  onMessage(listener: (data: Buffer, from: UdpEndpoint) => void): void;
  /** Errors after bind (the socket keeps running); before bind, bind() rejects. */
  onError(listener: (err: Error) => void): void;
  close(): Promise<void>;
}

export type UdpSocketFactory = () => UdpSocket;

const V4_MAPPED = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;

/**
 * Peers are always addressed by IP literal: those go straight to the socket,
 * without node:dgram's default trip through dns.lookup (a deferred callback per
 * datagram). Anything else still resolves.
 */
const literalLookup: NonNullable<SocketOptions['lookup']> = (host, options, callback) => {
  if (isIP(host) === 6) return callback(null, host, 6);
  dnsLookup(host, options, callback);
};

export const dgramSocketFactory: UdpSocketFactory = () => new DgramSocket(createSocket({ type: 'udp6', ipv6Only: false, lookup: literalLookup }));

class DgramSocket implements UdpSocket {
  constructor(private readonly socket: Socket) {}

  bind(port: number, host: string): Promise<UdpEndpoint> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.socket.once('error', onError);
      this.socket.bind(port, isIPv4(host) ? `::ffff:${host}` : host, () => {
        this.socket.off('error', onError);
        const a = this.socket.address();
        const mapped = V4_MAPPED.exec(a.address);
        resolve({ host: mapped ? mapped[1]! : a.address, port: a.port });
      });
    });
  }

  send(data: Buffer, to: UdpEndpoint): Promise<void> {
    // A udp6 socket reaches IPv4 peers through their v4-mapped address.
    const host = isIPv4(to.host) ? `::ffff:${to.host}` : to.host;
    return new Promise((resolve, reject) => {
      this.socket.send(data, to.port, host, (err) => (err ? reject(err) : resolve()));
    });
  }

  onMessage(listener: (data: Buffer, from: UdpEndpoint) => void): void {
    this.socket.on('message', (data, rinfo) => {
      const mapped = V4_MAPPED.exec(rinfo.address);
      listener(data, { host: mapped ? mapped[1]! : rinfo.address, port: rinfo.port });
    });
  }

  onError(listener: (err: Error) => void): void {
    this.socket.on('error', listener);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      try {
        this.socket.close(() => resolve());
      } catch {
        resolve(); // already closed
      }
    });
  }
}
