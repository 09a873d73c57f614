// Asks the babeld at the far end of a tunnel that just came up for its whole
// routing table now, and lets it count us as a neighbour now, rather than at
// our babeld's next periodic hello.
//
// babeld (1.12.1) sends a wildcard route request only when an interface comes
// up, and its local interface has no statement that sends one (it takes dump,
// monitor, interface, flush interface, …). The two ends of a new tunnel come up
// tens to hundreds of milliseconds apart: the request of the end that came up
// first reaches a peer whose babeld does not listen on the tunnel yet and is
// lost, and that end learns the peer's routes only from the peer's next full
// update, four hello intervals later (4 s at hello 1 s, 16 s at the default 4 s).
// The same goes for that end's first hello: babeld gives a neighbour a finite
// cost only once it heard two of its last three hellos (neighbour.c two_three),
// so the peer waits for our next periodic hello (up to 4 s at the default).
// So the daemon sends, a few times: one Babel packet (RFC 8966 §4.1) from our
// link-local address on the tunnel to the peer's babeld port, holding two
// unicast Hellos (§4.6.5, flag U, consecutive seqnos) and one Route Request
// (§4.6.10, AE 0, the wildcard). babeld keeps unicast hellos in a history of
// their own (our babeld sends none) and counts a neighbour heard by either, and
// answers a new neighbour's unicast hello with nothing (no feedback loop). The
// peer answers the request with an IHU and a full update; babeld ignores a
// wildcard request within max(1 s, hello) of its last full update on the
// interface, so a short burst costs the peer one update at most. No route is
// forged: a hello says only that we hear and are heard, which the packet's
// arrival proves; its stated interval is our babeld's, so the unicast history
// fades a few intervals after the last one, when the multicast hellos carry it.
import { createSocket } from 'node:dgram';
import type { Logger } from 'pino';
import type { Clock } from '../sys/clock.js';

export const BABEL_PORT = 6696;

/** Delays after the tunnel came up: the first finds the peer's end up as a rule, the later ones cover a slow peer. */
export const ROUTE_REQUEST_DELAYS_MS = [300, 1_500, 5_000] as const;

/**
 * A Babel packet (magic 42, version 2, body length 20): two unicast Hellos (type 4, length 6,
 * flags U, seqnos `seqno` and `seqno + 1`, interval in centiseconds) and one wildcard Route
 * Request (type 9, length 2, AE 0, plen 0).
 */
export function tunnelGreeting(seqno: number, intervalCs: number): Buffer {
  const packet = Buffer.alloc(24);
  packet.set([42, 2, 0, 20]);
  for (let i = 0; i < 2; i++) {
    const at = 4 + i * 8;
    packet.set([4, 6, 0x80, 0], at);
    packet.writeUInt16BE((seqno + i) & 0xffff, at + 4);
    packet.writeUInt16BE(Math.min(0xffff, Math.max(1, Math.round(intervalCs))), at + 6);
  }
  packet.set([9, 2, 0, 0], 20);
  return packet;
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
  /** Our babeld's hello interval, stated in the unicast hellos. */
  helloIntervalSec: () => number;
  send?: DatagramSend;
  delaysMs?: readonly number[];
  /** The first unicast hello seqno of an interface (default: random). */
  firstSeqno?: () => number;
}

export class RouteRequests {
  private readonly pending = new Map<string, Array<() => void>>();
  /** Next unicast hello seqno per tunnel interface: a tunnel that comes up again continues its sequence. */
  private readonly seqnos = new Map<string, number>();
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
        this.send(this.greeting(ifName), host, BABEL_PORT).catch((err: unknown) => this.deps.log.debug({ err, iface: ifName }, 'babel greeting not sent'));
      }, ms),
    );
    this.pending.set(ifName, timers);
  }

  private greeting(ifName: string): Buffer {
    const seqno = this.seqnos.get(ifName) ?? (this.deps.firstSeqno ?? (() => Math.floor(Math.random() * 0x10000)))();
    this.seqnos.set(ifName, (seqno + 2) & 0xffff);
    return tunnelGreeting(seqno, this.deps.helloIntervalSec() * 100);
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
