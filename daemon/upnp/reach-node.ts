// Reach checks on the peer protocol: both sides.
//   serveReachRequests: every node answers peers' reach-requests (reach-rules.ts
//     says which), sending the probe from a fresh UDP socket. Not from the
//     peer-protocol socket: its earlier exchanges with the requester leave NAT
//     state on the requester's router (our port ↔ its mapped port) that would let
//     the probe in even when the router drops everything new on the mapping.
//   startReachVerifier: the node with a mapping asks peers and listens for the
//     probe on its peer-protocol socket, which is the socket the mapped port leads to.
import { randomBytes } from 'node:crypto';
import { isIPv4 } from 'node:net';
import { REACH_NONCE_BYTES, type ReachOutcome } from '../../wire/messages.js';
import type { PeerAddress, PeerProtocol } from '../peerproto/protocol.js';
import { dgramSocketFactory, type UdpSocketFactory } from '../peerproto/socket.js';
import type { Clock } from '../sys/clock.js';
import { parseV4Endpoint } from '../sys/host-port.js';
import { ReachVerifier, type ReachStatus, type ReachTimings } from './reach.js';
import { ObservedSources, ReachRation, reachRequestProblem } from './reach-rules.js';

/** Copies of the probe frame (one lost datagram should not fail a check). */
const PROBE_COPIES = 2;
/** Each reach-request attempt waits this long for the answer (two attempts). */
const REQUEST_TIMEOUT_MS = 8_000;

type Log = { debug(obj: object, msg: string): void; info(obj: object, msg: string): void };

export function serveReachRequests(d: {
  clock: Pick<Clock, 'nowMs'>;
  log: Log;
  peerproto: Pick<PeerProtocol, 'on' | 'setHandler' | 'send'>;
  socketFactory?: UdpSocketFactory;
}): () => void {
  const observed = new ObservedSources();
  const ration = new ReachRation();
  // Before dispatch: a request that came over the underlay has its own source recorded already.
  const off = d.peerproto.on('authenticated', (ev) => observed.record(ev.from.prefix, ev.from.host, d.clock.nowMs()));
  d.peerproto.setHandler('reach-request', async (ev) => {
    const nowMs = d.clock.nowMs();
    const reply = (outcome: ReachOutcome) => ({ kind: 'reach-reply' as const, outcome });
    if (!ration.take(ev.from.prefix, nowMs)) return reply('rate-limited');
    const problem = reachRequestProblem(ev.msg.endpoint, observed.ips(ev.from.prefix, nowMs));
    if (problem !== undefined) {
      d.log.debug({ peer: ev.from.prefix, endpoint: ev.msg.endpoint, problem, observed: observed.ips(ev.from.prefix, nowMs) }, 'reach request refused');
      return reply(problem);
    }
    const to = parseV4Endpoint(ev.msg.endpoint)!;
    const socket = (d.socketFactory ?? dgramSocketFactory)();
    try {
      await socket.bind(0, '::');
      for (let i = 0; i < PROBE_COPIES; i++) await d.peerproto.send({ ...to, prefix: ev.from.prefix }, { kind: 'reach-probe', nonce: ev.msg.nonce }, { via: socket });
    } catch (err) {
      d.log.debug({ err, peer: ev.from.prefix, endpoint: ev.msg.endpoint }, 'reach probe not sent');
      return reply('error');
    } finally {
      await socket.close();
    }
    d.log.debug({ peer: ev.from.prefix, endpoint: ev.msg.endpoint }, 'reach probe sent');
    return reply('sent');
  });
  return off;
}

export interface ReachPeer {
  prefix: string;
  key: string;
  /** Where its peer-protocol socket is: the overlay address of an adjacent peer, else an underlay one. */
  to: PeerAddress;
}

export function startReachVerifier(d: {
  clock: Clock;
  peerproto: Pick<PeerProtocol, 'on' | 'request'>;
  candidates: () => readonly ReachPeer[];
  onStatus: (s: ReachStatus) => void;
  timings?: ReachTimings;
}): { verifier: ReachVerifier<ReachPeer>; stop(): void } {
  const verifier = new ReachVerifier<ReachPeer>({
    clock: d.clock,
    random: Math.random,
    nonce: () => randomBytes(REACH_NONCE_BYTES),
    candidates: d.candidates,
    ask: async (peer, endpoint, nonce, signal) => {
      const ev = await d.peerproto.request(peer.to, { kind: 'reach-request', endpoint, nonce }, { timeoutMs: REQUEST_TIMEOUT_MS, attempts: 2, signal });
      // An older peer without the handler answers nothing; a tunnel-refuse or anything else is no help either.
      return ev.msg.kind === 'reach-reply' ? ev.msg.outcome : 'other';
    },
    onStatus: d.onStatus,
    ...(d.timings ? { timings: d.timings } : {}),
  });
  // Only a probe that came over the IPv4 underlay crossed the mapping; one over the overlay proves nothing.
  const off = d.peerproto.on('reach-probe', (ev) => {
    if (isIPv4(ev.from.host)) verifier.probeArrived(ev.msg.nonce);
  });
  return {
    verifier,
    stop: () => {
      off();
      verifier.stop();
    },
  };
}

/** How many peers from the peer DB (beyond the adjacent ones) may be asked, at most. */
const MAX_UNDERLAY_CANDIDATES = 8;

/**
 * Who may probe (pure): adjacent peers first, over the overlay (the path gossip
 * uses, which works from behind any NAT), then live peers of the peer DB at their
 * first IPv4 underlay address, adjacent ones first (a node without tunnels yet has
 * only those; and a request over the underlay shows the peer our external address).
 */
export function reachCandidates(
  adjacent: readonly string[],
  known: readonly { prefix: string; addresses: readonly string[]; dead: boolean }[],
  overlayAddress: (prefix: string) => PeerAddress,
): ReachPeer[] {
  const near = [...new Set(adjacent)];
  const out: ReachPeer[] = near.map((prefix) => ({ prefix, key: `${prefix} overlay`, to: overlayAddress(prefix) }));
  // Adjacent peers come again over the underlay: a peer that never saw our external address refuses the overlay request.
  const byUnderlay = [...known.filter((p) => near.includes(p.prefix)), ...known.filter((p) => !near.includes(p.prefix))];
  let extra = 0;
  for (const p of byUnderlay) {
    if (extra >= MAX_UNDERLAY_CANDIDATES) break;
    if (p.dead) continue;
    const first = p.addresses.map(parseV4Endpoint).find((e) => e !== undefined);
    if (first === undefined) continue;
    out.push({ prefix: p.prefix, key: `${p.prefix} underlay`, to: { ...first, prefix: p.prefix } });
    extra++;
  }
  return out;
}
