// Asks the babeld at the far end of a tunnel that just came up for its whole
// routing table now, and lets it count us as a neighbour now, rather than at
// our babeld's next periodic hello.
//
// babeld (1.12.1) sends a wildcard route request only when an interface comes
// up, and its local interface has no statement that sends one (it takes dump,
// monitor, interface, flush interface, …). babeld takes a tunnel up when openvpn
// opens its tun, before the peer is connected (or, with an openvpn that waits,
// when one end is connected before the other): its request goes into a tunnel
// that does not carry it yet and is lost, and that end learns the peer's routes
// only from the peer's next full update, four hello intervals later (4 s at
// hello 1 s, 16 s at the default 4 s).
// The same goes for that end's first hello: babeld gives a neighbour a finite
// cost only once it heard two of its last three hellos (neighbour.c two_three),
// so the peer waits for our next periodic hello (up to 4 s at the default).
// Worse, the later end hears from the earlier one at first only the hellos
// babeld puts next to an IHU, which state no interval: babeld drops a neighbour
// with no such interval at its next check (neighbour.c check_neighbours), and
// with it whatever it counted, until the earlier end's next periodic hello.
// So the daemon sends, a few times: one Babel packet (RFC 8966 §4.1) from our
// link-local address on the tunnel to the peer's babeld port, holding four
// Hellos (§4.6.5), two with flag U and two without, consecutive seqnos in each
// pair, and two Route Requests (§4.6.10): the wildcard (AE 0) and one for the
// peer's own prefix (AE 2).
// - babeld keeps unicast and multicast hellos in two histories and counts a
//   neighbour heard by either. The unicast pair makes us heard; the other pair
//   gives the multicast history an interval, so the neighbour is kept. Our
//   babeld's next real hello does not follow our seqnos, so babeld restarts that
//   history from it (one hello heard) while the unicast pair still counts.
// - babeld answers a new neighbour's hellos with nothing (no feedback loop).
// - The peer answers the wildcard with an IHU and a full update, but ignores it
//   within max(1 s, hello) of its last full update on the interface (message.c):
//   a short burst costs the peer one update at most, and an answer our babeld
//   missed (its end not running the tunnel yet) shuts out the next requests for
//   a hello interval, 4 s by default. A request for one prefix is always
//   answered, so the peer's own route, the one the tunnel exists for, comes at
//   the first greeting that finds both ends up.
// No route is forged: a hello says only that we hear and are heard, which the
// packet's arrival proves; its stated interval is our babeld's, so the hellos
// fade a few intervals after the last one, when our babeld's own carry them.
import { createSocket } from 'node:dgram';
import type { Logger } from 'pino';
import { parsePrefix, type Ipv6Prefix } from '../../config/ipv6.js';
import type { Clock } from '../sys/clock.js';

export const BABEL_PORT = 6696;

/**
 * Delays after the tunnel came up. Both babelds run the tunnel from its start (openvpn opens
 * the tun at once) and openvpn's two ends come up within tens of milliseconds of each other,
 * so the first one is heard as a rule; the later ones cover a slow peer, and the last one
 * comes after babeld's window for repeated wildcard requests at the default hello (4 s).
 */
export const ROUTE_REQUEST_DELAYS_MS = [50, 500, 1_500, 5_000] as const;

/** Hellos in a greeting: two in each of babeld's histories, multicast (flags 0) and unicast (flag U). */
const GREETING_HELLOS = [0, 0x80].flatMap((flags) => [0, 1].map((i) => ({ flags, i })));

/**
 * A Babel packet (magic 42, version 2): four Hellos (type 4, length 6), two with flags 0
 * (babeld's multicast history) and two with flag U (unicast), each pair with seqnos `seqno`
 * and `seqno + 1` and the interval in centiseconds; one wildcard Route Request (type 9,
 * length 2, AE 0, plen 0) and, given the peer's prefix, a Route Request for it (AE 2, its
 * length, the prefix's significant bytes).
 */
export function tunnelGreeting(seqno: number, intervalCs: number, peerPrefix?: Ipv6Prefix): Buffer {
  const prefixBytes = peerPrefix ? Math.ceil(peerPrefix.length / 8) : 0;
  const requestsAt = 4 + GREETING_HELLOS.length * 8;
  const packet = Buffer.alloc(requestsAt + 4 + (peerPrefix ? 4 + prefixBytes : 0));
  packet.set([42, 2]);
  packet.writeUInt16BE(packet.length - 4, 2);
  GREETING_HELLOS.forEach(({ flags, i }, n) => {
    const at = 4 + n * 8;
    packet.set([4, 6, flags, 0], at);
    packet.writeUInt16BE((seqno + i) & 0xffff, at + 4);
    packet.writeUInt16BE(Math.min(0xffff, Math.max(1, Math.round(intervalCs))), at + 6);
  });
  packet.set([9, 2, 0, 0], requestsAt);
  if (peerPrefix) {
    const at = requestsAt + 4;
    packet.set([9, 2 + prefixBytes, 2, peerPrefix.length], at);
    const address = Buffer.alloc(16);
    address.writeBigUInt64BE(peerPrefix.address >> 64n, 0);
    address.writeBigUInt64BE(peerPrefix.address & 0xffff_ffff_ffff_ffffn, 8);
    address.copy(packet, at + 4, 0, prefixBytes);
  }
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

  /** The tunnel `ifName` came up: ask the peer's babeld (at `peerLinkLocal`) for its routes and its own prefix, a few times. */
  tunnelUp(ifName: string, peerLinkLocal: string, peerPrefix: string): void {
    if (this.stopped) return;
    this.cancel(ifName);
    const host = `${peerLinkLocal}%${ifName}`;
    const prefix = parsePrefix(peerPrefix);
    const timers = this.delaysMs.map((ms) =>
      this.deps.clock.setTimeout(() => {
        // A tunnel that went away meanwhile: the send fails (no such interface), which is fine.
        this.send(this.greeting(ifName, prefix), host, BABEL_PORT).catch((err: unknown) => this.deps.log.debug({ err, iface: ifName }, 'babel greeting not sent'));
      }, ms),
    );
    this.pending.set(ifName, timers);
  }

  private greeting(ifName: string, peerPrefix: Ipv6Prefix): Buffer {
    const seqno = this.seqnos.get(ifName) ?? (this.deps.firstSeqno ?? (() => Math.floor(Math.random() * 0x10000)))();
    this.seqnos.set(ifName, (seqno + 2) & 0xffff);
    return tunnelGreeting(seqno, this.deps.helloIntervalSec() * 100, peerPrefix);
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
