// Which reach requests a node serves (pure; time comes in as a parameter).
//
// A reach request makes this node send a datagram to an endpoint it did not
// choose. What is enforced, so that no member can use it to aim traffic at a
// third party:
//   - the endpoint's IP must be one this node saw the requester's own
//     authenticated frames come from over the IPv4 underlay (its external
//     address as its NAT shows it), within the last OBSERVED_TTL_MS. A member
//     cannot make us probe an address it does not send from; a copied frame
//     replayed from a spoofed source is refused by the replay check, so the
//     first arrival (from the real source) is the one recorded;
//   - one small frame per request (two copies against loss), from a fresh
//     socket, at most REQUESTS_PER_PEER in a burst per requester and a shared
//     ration for all requesters; beyond it the answer is a cheap refusal
//     ('rate-limited') with nothing sent;
//   - the endpoint must be an IPv4 "IP:PORT" a peer may use (no loopback,
//     multicast, unspecified …; config/peer-address.ts).
import { isIPv4 } from 'node:net';
import { isPeerAddress } from '../../config/peer-address.js';
import type { ReachOutcome } from '../../wire/messages.js';
import { parseV4Endpoint } from '../sys/host-port.js';
import { TokenBuckets } from '../peerproto/token-buckets.js';

/** How long an observed source address counts as the requester's. */
export const OBSERVED_TTL_MS = 60 * 60_000;
/** Source addresses remembered per peer (the newest win) and peers remembered. */
const OBSERVED_PER_PEER = 4;
const OBSERVED_PEERS = 4096;

/** Per requester: a burst of this many, then one per REQUEST_INTERVAL_MS. */
export const REQUESTS_PER_PEER = 3;
export const REQUEST_INTERVAL_MS = 20_000;
/** All requesters together: a burst of 20, then 1 per second. */
const SHARED_BURST = 20;
const SHARED_PER_SEC = 1;

/** The IPv4 underlay addresses each peer's authenticated frames came from lately. */
export class ObservedSources {
  private readonly byPeer = new Map<string, Map<string, number>>();

  /** Records `host` for `peer` when it is an IPv4 underlay address (overlay frames come over IPv6). */
  record(peer: string, host: string, nowMs: number): void {
    if (!isIPv4(host) || !isPeerAddress(host)) return;
    let seen = this.byPeer.get(peer);
    if (seen === undefined) {
      if (this.byPeer.size >= OBSERVED_PEERS) {
        const oldest = this.byPeer.keys().next().value;
        if (oldest !== undefined) this.byPeer.delete(oldest);
      }
      seen = new Map();
    }
    this.byPeer.delete(peer); // re-inserted: Map order = least recently seen first
    this.byPeer.set(peer, seen);
    seen.delete(host);
    seen.set(host, nowMs);
    if (seen.size > OBSERVED_PER_PEER) seen.delete(seen.keys().next().value!);
  }

  /** The addresses seen for `peer` within the TTL. */
  ips(peer: string, nowMs: number): string[] {
    return [...(this.byPeer.get(peer) ?? new Map<string, number>())].filter(([, atMs]) => nowMs - atMs <= OBSERVED_TTL_MS).map(([ip]) => ip);
  }
}

/** Why a reach request is refused (undefined: it may be served); cheap, no crypto. */
export function reachRequestProblem(endpoint: string, observedIps: readonly string[]): Exclude<ReachOutcome, 'sent' | 'rate-limited'> | undefined {
  const e = parseV4Endpoint(endpoint);
  if (e === undefined || e.port === 0 || !isPeerAddress(e.host)) return 'bad-endpoint';
  if (!observedIps.includes(e.host)) return 'not-your-address';
  return undefined;
}

/** The rations of reach requests: per requester and shared. */
export class ReachRation {
  private readonly perPeer = new TokenBuckets({ ratePerSec: 1000 / REQUEST_INTERVAL_MS, burst: REQUESTS_PER_PEER, maxKeys: 1024 });
  private readonly shared = new TokenBuckets({ ratePerSec: SHARED_PER_SEC, burst: SHARED_BURST, maxKeys: 1 });

  /** Takes a token for `peer` (and one shared); false, with nothing taken, when either is empty. */
  take(peer: string, nowMs: number): boolean {
    if (!this.perPeer.has(peer, nowMs) || !this.shared.has('all', nowMs)) return false;
    return this.perPeer.take(peer, nowMs) && this.shared.take('all', nowMs);
  }
}
