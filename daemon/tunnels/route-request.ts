// Asks the babeld at the far end of a tunnel that just came up for its whole
// routing table now, rather than at its next periodic update.
//
// babeld (1.12.1) sends a wildcard route request only when an interface comes
// up, and its local interface has no statement that sends one (it takes dump,
// monitor, interface, flush interface, …). The two ends of a new tunnel come up
// tens to hundreds of milliseconds apart: the request of the end that came up
// first reaches a peer whose babeld does not listen on the tunnel yet and is
// lost, and that end learns the peer's routes only from the peer's next full
// update, four hello intervals later (4 s at hello 1 s, 16 s at the default 4 s).
// So the daemon sends the request itself: one Babel packet (RFC 8966 §4.1, one
// Route Request TLV with AE 0, the wildcard) from our link-local address on the
// tunnel to the peer's babeld port. The peer answers with an IHU and a full
// update; babeld ignores a wildcard request that comes within max(1 s, hello)
// of its last full update on the interface, so a short burst costs the peer
// one update at most. No route is forged: a request only asks.
import { createSocket } from 'node:dgram';
import type { Logger } from 'pino';
import type { Clock } from '../sys/clock.js';

export const BABEL_PORT = 6696;

/** Delays after the tunnel came up: the first finds the peer's end up as a rule, the later ones cover a slow peer. */
export const ROUTE_REQUEST_DELAYS_MS = [300, 1_500, 5_000] as const;

/** A Babel packet (magic 42, version 2, body length 4) holding one wildcard Route Request (type 9, length 2, AE 0, plen 0). */
export function wildcardRouteRequest(): Buffer {
  return Buffer.from([42, 2, 0, 4, 9, 2, 0, 0]);
}

/** Sends one datagram to a scoped link-local address ("fe80::1%rn0123"); resolves, or rejects with the socket's error. */
export type DatagramSend = (packet: Buffer, host: string, port: number) => Promise<void>;

export const sendDatagram: DatagramSend = (packet, host, port) =>
  new Promise((resolve, reject) => {
    const socket = createSocket('udp6');
    const done = (err?: Error | null): void => {
      socket.close();
      if (err) reject(err);
      else resolve();
    };
    socket.once('error', done);
    socket.send(packet, port, host, done);
  });

export interface RouteRequestDeps {
  clock: Clock;
  log: Pick<Logger, 'debug'>;
  send?: DatagramSend;
  delaysMs?: readonly number[];
}

export class RouteRequests {
  private readonly pending = new Map<string, Array<() => void>>();
  private readonly send: DatagramSend;
  private readonly delaysMs: readonly number[];
  private stopped = false;

  constructor(private readonly deps: RouteRequestDeps) {
    this.send = deps.send ?? sendDatagram;
    this.delaysMs = deps.delaysMs ?? ROUTE_REQUEST_DELAYS_MS;
  }

  /** The tunnel `ifName` came up: ask the peer's babeld (at `peerLinkLocal`) for its routes, a few times. */
  tunnelUp(ifName: string, peerLinkLocal: string): void {
    if (this.stopped) return;
    this.cancel(ifName);
    const host = `${peerLinkLocal}%${ifName}`;
    const timers = this.delaysMs.map((ms) =>
      this.deps.clock.setTimeout(() => {
        // A tunnel that went away meanwhile: the send fails (no such interface), which is fine.
        this.send(wildcardRouteRequest(), host, BABEL_PORT).catch((err: unknown) => this.deps.log.debug({ err, iface: ifName }, 'babel route request not sent'));
      }, ms),
    );
    this.pending.set(ifName, timers);
  }

  /** Drops the requests not sent yet for a tunnel. */
  cancel(ifName: string): void {
    for (const cancel of this.pending.get(ifName) ?? []) cancel();
    this.pending.delete(ifName);
  }

  stop(): void {
    this.stopped = true;
    for (const ifName of [...this.pending.keys()]) this.cancel(ifName);
  }
}
