// Link beats: an empty UDP datagram sent over a tunnel to a link-local multicast
// group no host joins. The peer's tunnel interface counts it as received (its rx
// packet counter, read from /proc/net/dev, is the peer's sign of life) and its
// kernel drops it: no process wakes, and no ICMP error comes back for a multicast
// destination. One socket per tunnel, connected once, so a beat is a bare send:
// no address to parse and no interface name to look up per datagram, which is
// most of what a scoped link-local send costs in node:dgram.
import { createSocket, type Socket } from 'node:dgram';
import { isIP } from 'node:net';

/** Transient, link-local scope, a group id of our own: nobody subscribes to it. */
export const LINK_BEAT_GROUP = 'ff12::7265:736c:6e74';
/** The discard port, in case a host does listen on every group. */
export const LINK_BEAT_PORT = 9;

export interface LinkBeatSender {
  /** Sends a beat over `ifName`; false when its socket is not ready yet (the caller sends a hello instead). */
  send(ifName: string): boolean;
  /** The tunnel is gone: its socket is closed. */
  forget(ifName: string): void;
  close(): void;
}

interface BeatSocket {
  socket: Socket;
  ready: boolean;
  /** The send callback, made once per socket rather than once per beat. */
  sent: (err: Error | null) => void;
}

const EMPTY = Buffer.alloc(0);

export class LinkBeats implements LinkBeatSender {
  private readonly sockets = new Map<string, BeatSocket>();

  constructor(private readonly onError: (ifName: string, err: Error) => void = () => {}) {}

  send(ifName: string): boolean {
    const s = this.sockets.get(ifName) ?? this.open(ifName);
    if (!s.ready) return false;
    try {
      s.socket.send(EMPTY, s.sent);
    } catch (err) {
      // Never thrown at the caller: a beat that cannot go is a hello instead.
      this.drop(ifName, s, err as Error);
      return false;
    }
    return true;
  }

  forget(ifName: string): void {
    const s = this.sockets.get(ifName);
    if (s) this.closeSocket(ifName, s);
  }

  close(): void {
    for (const [ifName, s] of this.sockets) this.closeSocket(ifName, s);
  }

  private open(ifName: string): BeatSocket {
    const socket = createSocket({ type: 'udp6', lookup: (host, _o, cb) => cb(null, host, isIP(host) || 6) });
    const s: BeatSocket = {
      socket,
      ready: false,
      // A failed send: the interface went (openvpn restarting), so a new socket at the next beat.
      sent: (err) => {
        if (err) this.drop(ifName, s, err);
      },
    };
    this.sockets.set(ifName, s);
    socket.unref();
    socket.on('error', (err) => this.drop(ifName, s, err));
    // node:dgram hands a failed connect (no such interface yet, or any more) to this callback, not to 'error'.
    socket.connect(LINK_BEAT_PORT, `${LINK_BEAT_GROUP}%${ifName}`, (err?: Error) => {
      if (err) return this.drop(ifName, s, err);
      if (this.sockets.get(ifName) !== s) return;
      // Our own beats must not count as received on our side of the tunnel.
      socket.setMulticastLoopback(false);
      s.ready = true;
    });
    return s;
  }

  private drop(ifName: string, s: BeatSocket, err: Error): void {
    if (this.sockets.get(ifName) !== s) return;
    this.closeSocket(ifName, s);
    this.onError(ifName, err);
  }

  private closeSocket(ifName: string, s: BeatSocket): void {
    if (this.sockets.get(ifName) === s) this.sockets.delete(ifName);
    try {
      s.socket.close();
    } catch {
      // already closed
    }
  }
}
