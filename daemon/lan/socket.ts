// The one UDP socket of LAN discovery: bound to [::]:PORT, a member of the
// link-local group on each LAN interface, sending to the group out of a chosen
// interface. IPv6 link-local multicast because the scope is the link itself:
// routers never forward it, no TTL to get right, and every interface with IPv6
// has a link-local source address without any configuration (no IGMP, no DHCP).
import { createSocket, type Socket } from 'node:dgram';

/** ff0X::114 is IANA's variable-scope group for private experiments; ff02:: makes it link-local. */
export const LAN_GROUP = 'ff02::114';

export interface LanDatagramSource {
  /** Sender's link-local address. */
  address: string;
  /** The interface it arrived on (from the address's zone), when known. */
  ifName: string | undefined;
}

export interface LanSocket {
  bind(port: number): Promise<void>;
  /** Joins the group on an interface; throws (ENODEV, EADDRNOTAVAIL…) when it cannot. */
  join(ifName: string): void;
  send(ifName: string, data: Buffer): Promise<void>;
  onMessage(listener: (data: Buffer, from: LanDatagramSource) => void): void;
  close(): Promise<void>;
}

export type LanSocketFactory = () => LanSocket;

export const dgramLanSocket: LanSocketFactory = () => new DgramLanSocket();

class DgramLanSocket implements LanSocket {
  private readonly socket: Socket = createSocket({ type: 'udp6', reuseAddr: true });
  private port = 0;
  private closed = false;

  bind(port: number): Promise<void> {
    this.port = port;
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.socket.once('error', onError);
      this.socket.bind(port, '::', () => {
        this.socket.off('error', onError);
        // Our own datagrams are of no use to us.
        this.socket.setMulticastLoopback(false);
        resolve();
      });
    });
  }

  join(ifName: string): void {
    this.socket.addMembership(LAN_GROUP, `::%${ifName}`);
  }

  send(ifName: string, data: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      try {
        this.socket.setMulticastInterface(`::%${ifName}`);
      } catch (err) {
        reject(err as Error);
        return;
      }
      this.socket.send(data, this.port, `${LAN_GROUP}%${ifName}`, (err) => (err ? reject(err) : resolve()));
    });
  }

  onMessage(listener: (data: Buffer, from: LanDatagramSource) => void): void {
    // A socket error after bind (ICMP-caused, rare for multicast) must not end the daemon.
    this.socket.on('error', () => undefined);
    this.socket.on('message', (data, rinfo) => {
      const zone = rinfo.address.indexOf('%');
      listener(data, { address: rinfo.address, ifName: zone >= 0 ? rinfo.address.slice(zone + 1) : undefined });
    });
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}
