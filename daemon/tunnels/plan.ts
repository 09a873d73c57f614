// Which outgoing tunnels to open, drain and close: a pure function of a
// snapshot, the time and a random source. The executor (manager.ts) applies the
// plan; it also stores `nowMs` as lastRefreshAtMs when the plan says refreshed.
//
// Rules (docs/architecture.md, "Tunnel selection"):
// - Keep clientCount outgoing tunnels (opening + up; draining ones do not count).
//   A tunnel whose link has been lost for lostFillMs does not fill a slot: a
//   replacement is opened while the lost one waits for its link or for its
//   lost time-out (executor), so a node whose tunnels all crossed a partition
//   finds peers on its own side instead of waiting a minute cut off. If the
//   lost link comes back, the node is over capacity and drains one.
//   A node that serves nobody keeps at most maxWhenServingNobody (2): when many
//   nodes behind NAT open tunnels without serving any, the reachable servers
//   saturate.
// - Never open to a revoked peer, to one whose retry is not due, to one without
//   an address, to ourselves, or to a peer we are already adjacent to (any
//   tunnel, either direction).
// - Fill order: configured neighbours, then random peers babel reaches but we
//   are not adjacent to (in a partition: peers on our side), then random known
//   peers babel does not reach (start-up: the DB is all we have); all of them live. Dead peers are a
//   last resort, not a tombstone: only when no live candidate is left, the dead
//   ones due for their retry (retry-policy.ts), most overdue first. Refreshes
//   and traffic picks never go to a dead peer.
// - Every refreshIntervalMs, at capacity: drain the lowest-scoring unprotected
//   up tunnel and open one replacement — one per refresh, so the topology
//   changes slowly. Protected: younger than minTunnelAgeMs, the busiest share by
//   traffic, configured neighbours. No replacement candidate → no drain.
// - Islands: while a live peer seen lately (lastSeenMs within islandSeenMs: the
//   registry or a peer listed it) is out of babel's reach, every islandRefreshMs
//   one tunnel to such a peer opens over capacity, draining nothing. Once it is
//   up the node is over capacity and drains its lowest-scoring tunnel, the young
//   ones (< islandMinAgeMs) last, so a link that joins two islands (it carries
//   the other island's routes) stays; one that fails costs nothing. Nodes that
//   start together fill their slots from the few peers the first lists name and
//   form islands that the periodic refresh would join only minutes later
//   (32-node lab: ~290 s); during a partition the attempts fail and back off.
// - A starved host (its timers ran starvedLateMs late lately) holds still: lost
//   links keep their slot, no island probe, no refresh (postponed, not skipped);
//   it still fills empty slots and drains an excess.
// - Busiest share: ceil(busiestShare × active) tunnels with the most traffic,
//   counting only tunnels with steady traffic (≥ steadyTrafficBytesPerSec), so
//   babel's hellos alone never protect a tunnel (with client_count 1 they would
//   block every refresh). Traffic to this refresh's traffic pick is not counted
//   for the tunnel that carries it now (destinationVia): it moves to the new
//   direct tunnel, so it is no reason to keep the old one. Busiest tunnels a
//   replacement passes over (they score below the victim, or every tunnel is
//   protected while a replacement was available) are listed in `kept`.
// - Traffic-aware replacement: when the snapshot has per-destination traffic,
//   the replacement goes to the non-adjacent destination with the most steady
//   traffic (≥ steadyTrafficBytesPerSec), turning our heaviest multi-hop flow
//   into a direct link (`trafficOpen` says how much and where it went before).
//   Fills stay random: random links keep the overlay's diameter small and
//   spread load, and one traffic pick per refresh cannot skew that much.
// - Tunnels to revoked peers are closed at once (a tunnel to a peer dead of
//   failures is its retry); tunnels that did not come up within openTimeoutMs
//   are closed (the executor records the failure in the peer DB).
import { classifyPeer, type DeadCause } from '../peers/retry-policy.js';
import { tunnelScore } from './score.js';
import { impossibleWhy, pairing } from '../nat/punch.js';
import type { NatClass } from '../nat/classify.js';

export type OutgoingState = 'opening' | 'up' | 'draining';

export interface OutgoingTunnel {
  peer: string;
  state: OutgoingState;
  openedAtMs: number;
  /** Routes babel currently sends through this tunnel. */
  routeCount: number;
  /** EWMA of rx + tx (score.ts). */
  bytesPerSec: number;
  /** How long its link has been lost (it was up once); absent or 0: not lost. */
  lostForMs?: number;
}

/** What the planner needs from a peer-DB record. */
export interface PlanPeer {
  prefix: string;
  dead: boolean;
  deadReason?: string | null;
  /** 'revoked' is final; a peer dead of 'failures' is retried once retryAtMs is due. */
  deadCause?: DeadCause | null;
  retryAtMs: number;
  addresses: readonly string[];
  /** When the registry or a peer last listed it (absent: unknown, never an island sign). */
  lastSeenMs?: number;
  /** Its NAT class, when known (hole punching learns it; daemon/nat/punch.ts pairing). */
  natClass?: NatClass;
  /** It has an address on a LAN we share: reachable directly whatever the NAT classes say. */
  sameLan?: boolean;
}

export interface TunnelPolicy {
  /** tunnel_refresh, in ms. */
  refreshIntervalMs: number;
  /** Tunnels younger than this are never replaced. */
  minTunnelAgeMs: number;
  /** Fraction of tunnels (rounded up) protected for carrying the most traffic. */
  busiestShare: number;
  /** An opening tunnel that is not up after this long is closed. */
  openTimeoutMs: number;
  /** Destination traffic at or above this counts as steady. */
  steadyTrafficBytesPerSec: number;
  maxWhenServingNobody: number;
  /** A tunnel whose link has been lost this long no longer fills a slot. */
  lostFillMs: number;
  /** Refresh interval while a live peer seen lately is out of babel's reach (islands). */
  islandRefreshMs: number;
  /** Over capacity, tunnels younger than this are drained last (an island probe that just came up). */
  islandMinAgeMs: number;
  /** A peer listed this recently counts as live for island refreshes. */
  islandSeenMs: number;
  /** This host's timers running this late (or later) lately: it holds its tunnels still (see planTunnels). */
  starvedLateMs: number;
}

export const DEFAULT_TUNNEL_POLICY: TunnelPolicy = {
  refreshIntervalMs: 300_000,
  minTunnelAgeMs: 120_000,
  busiestShare: 0.2,
  openTimeoutMs: 60_000,
  steadyTrafficBytesPerSec: 10_000,
  maxWhenServingNobody: 2,
  lostFillMs: 10_000,
  islandRefreshMs: 60_000,
  islandMinAgeMs: 30_000,
  islandSeenMs: 600_000,
  starvedLateMs: 1_000,
};

export interface TunnelSnapshot {
  /** Our own prefix. */
  self: string;
  clientCount: number;
  /** No incoming tunnels and incoming attempts never arrive (probably behind NAT). */
  servesNobody: boolean;
  outgoing: readonly OutgoingTunnel[];
  /** Peers with an incoming tunnel to us. */
  incoming: readonly string[];
  /** Peers from the DB, dead ones included. */
  peers: readonly PlanPeer[];
  /** Our NAT class, when known: with the peers' classes it rules out pairs no tunnel can join. */
  selfNatClass?: NatClass;
  /** Prefixes babel has a route to. */
  reachable: readonly string[];
  /** Configured neighbours: preferred and never replaced. */
  neighbours: readonly string[];
  /** Bytes/s we exchange with each destination prefix, when measured. */
  destinationTraffic?: ReadonlyMap<string, number>;
  /** Destination prefix → the peer whose tunnel carries our route to it now. */
  destinationVia?: ReadonlyMap<string, string>;
  lastRefreshAtMs: number | undefined;
  /** This host's worst timer lateness lately, in ms (absent: on time). */
  lateMs?: number;
  policy: TunnelPolicy;
}

export interface PlanAction {
  peer: string;
  reason: string;
}

/** A tunnel the refresh would have replaced but kept because it is among the busiest. */
export interface KeptTunnel {
  peer: string;
  /** Its traffic as counted for the busiest share. */
  bytesPerSec: number;
  score: number;
}

/** The refresh opened a tunnel for traffic: to whom, how much, and which tunnel carried it. */
export interface TrafficOpen {
  peer: string;
  bytesPerSec: number;
  via: string | null;
  replaces: string;
}

export interface TunnelPlan {
  open: PlanAction[];
  drain: PlanAction[];
  close: PlanAction[];
  kept: KeptTunnel[];
  trafficOpen?: TrafficOpen;
  /** Every decision and non-decision, one line each, for logs and tests. */
  reasons: string[];
  /** A refresh round ran: the executor stores nowMs as lastRefreshAtMs. */
  refreshed: boolean;
}

export function planTunnels(s: TunnelSnapshot, nowMs: number, rand: () => number): TunnelPlan {
  const plan: TunnelPlan = { open: [], drain: [], close: [], kept: [], reasons: [], refreshed: false };
  const p = s.policy;
  const peerBy = new Map(s.peers.map((x) => [x.prefix, x]));
  const neighbours = new Set(s.neighbours);
  const act = (list: PlanAction[], peer: string, reason: string): void => {
    list.push({ peer, reason });
    plan.reasons.push(`${list === plan.open ? 'open' : list === plan.drain ? 'drain' : 'close'} ${peer}: ${reason}`);
  };

  // 1. Tunnels that must go now.
  let active: OutgoingTunnel[] = [];
  for (const t of s.outgoing) {
    const peer = peerBy.get(t.peer);
    if (peer !== undefined && classifyPeer(peer, nowMs) === 'revoked') {
      act(plan.close, t.peer, `peer is dead (${peer.deadReason ?? 'no reason recorded'})`);
    } else if (t.state === 'opening' && nowMs - t.openedAtMs >= p.openTimeoutMs) {
      act(plan.close, t.peer, `not up after ${Math.round((nowMs - t.openedAtMs) / 1000)} s`);
    } else if (t.state !== 'draining') {
      active.push(t);
    }
  }

  // A starved host holds still: its lost links are most likely stalls, not cuts, and every
  // replacement, probe or refresh is a handshake and a drain that starve it further (a 64-node
  // lab on 2 cores went up to 9 outgoing tunnels of 4 per node this way and never formed).
  const starved = (s.lateMs ?? 0) >= p.starvedLateMs;
  if (starved) plan.reasons.push(`holding still: this host's timers ran ${((s.lateMs ?? 0) / 1000).toFixed(1)} s late lately (lost links keep their slot; no island probe, no refresh)`);

  // 2. Capacity, and over-capacity drains (e.g. we just learned we serve nobody,
  // or a lost link came back after its replacement opened). Lost links do not count.
  const target = s.servesNobody ? Math.min(p.maxWhenServingNobody, s.clientCount) : s.clientCount;
  const why = s.servesNobody ? ` (serves nobody: at most ${p.maxWhenServingNobody})` : '';
  const isLost = (t: OutgoingTunnel): boolean => !starved && (t.lostForMs ?? 0) >= p.lostFillMs;
  const lost = active.filter(isLost);
  const filling = active.filter((t) => !isLost(t));
  // Only tunnels that are up are drained: one still opening may fail (an island probe, below).
  const upFilling = filling.filter((t) => t.state === 'up');
  if (upFilling.length > target) {
    const excess = upFilling.length - target;
    const young = (t: OutgoingTunnel): number => Number(nowMs - t.openedAtMs < p.islandMinAgeMs);
    const order = [...upFilling].sort((a, b) => Number(neighbours.has(a.peer)) - Number(neighbours.has(b.peer)) || young(a) - young(b) || byScore(a, b));
    for (const t of order.slice(0, excess)) act(plan.drain, t.peer, `over capacity ${upFilling.length}/${target}${why}`);
    const drained = new Set(order.slice(0, excess).map((t) => t.peer));
    active = active.filter((t) => !drained.has(t.peer));
  }
  if (lost.length > 0) plan.reasons.push(`lost links not filling a slot: ${lost.map((t) => `${t.peer} (${Math.round((t.lostForMs ?? 0) / 1000)} s)`).join(', ')}`);
  const fillingCount = active.length - lost.length;

  // 3. Who we could open to.
  const adjacent = new Set([s.self, ...s.outgoing.map((t) => t.peer), ...s.incoming]);
  // Pairs whose NAT classes rule out any tunnel from our side are not tried (their traffic goes
  // through the overlay), unless they share a LAN with us: no NAT lies between us there.
  const unpairable = s.peers.filter((x) => x.natClass !== undefined && !x.sameLan && pairing(s.selfNatClass, x.natClass) === 'impossible' && !adjacent.has(x.prefix));
  for (const x of unpairable) plan.reasons.push(`skip ${x.prefix}: ${impossibleWhy(s.selfNatClass, x.natClass)}`);
  const ruledOut = new Set(unpairable.map((x) => x.prefix));
  const openable = (prefix: string, standing: 'ready' | 'dead-due'): boolean => {
    const peer = peerBy.get(prefix);
    return peer !== undefined && classifyPeer(peer, nowMs) === standing && peer.addresses.length > 0 && !adjacent.has(prefix) && !ruledOut.has(prefix);
  };
  const eligible = (prefix: string): boolean => openable(prefix, 'ready');
  const reachable = new Set(s.reachable);
  const pool = s.peers.filter((x) => eligible(x.prefix)).map((x) => x.prefix).sort();
  const lastResort = s.peers
    .filter((x) => openable(x.prefix, 'dead-due'))
    .sort((a, b) => a.retryAtMs - b.retryAtMs || (a.prefix < b.prefix ? -1 : 1))
    .map((x) => ({ peer: x.prefix, reason: `last resort: dead peer due for its retry (${x.deadReason ?? 'no reason recorded'})` }));
  const unreached = shuffle(pool.filter((x) => !reachable.has(x) && !neighbours.has(x)), rand);
  const queue: PlanAction[] = [
    ...s.neighbours.filter(eligible).map((peer) => ({ peer, reason: 'configured neighbour' })),
    ...shuffle(pool.filter((x) => reachable.has(x) && !neighbours.has(x)), rand).map((peer) => ({ peer, reason: 'random peer babel reaches, not adjacent' })),
    ...unreached.map((peer) => ({ peer, reason: 'random known peer babel does not reach' })),
  ];
  /** Takes `peer` out of the queue (the first one when not given) and counts it as adjacent from now on. */
  const take = (peer?: string): PlanAction | undefined => {
    const at = peer === undefined ? 0 : queue.findIndex((q) => q.peer === peer);
    const next = at < 0 ? undefined : queue.splice(at, 1)[0];
    if (next !== undefined) adjacent.add(next.peer);
    return next;
  };

  // 4. Fill up to the target: live peers first, then due dead ones.
  const missing = target - fillingCount;
  for (let i = 0; i < missing; i++) {
    if (queue.length === 0 && lastResort.length > 0) queue.push(...lastResort.splice(0).filter((x) => !adjacent.has(x.peer)));
    const next = take();
    if (next === undefined) {
      plan.reasons.push(`fill: ${fillingCount + i}/${target} tunnels, no eligible peer left${why}`);
      break;
    }
    act(plan.open, next.peer, `fill ${fillingCount + i + 1}/${target}: ${next.reason}${why}`);
  }

  // 5. Between refreshes, a probe towards another island; one replacement per refresh, when at capacity.
  if (starved) return plan;
  const sinceRefreshMs = s.lastRefreshAtMs === undefined ? Infinity : nowMs - s.lastRefreshAtMs;
  if (sinceRefreshMs < p.refreshIntervalMs) {
    const islander = unreached.find((x) => nowMs - (peerBy.get(x)!.lastSeenMs ?? -Infinity) < p.islandSeenMs && queue.some((q) => q.peer === x));
    // Exactly at capacity, all up: not while a probe or a replacement is still opening or an excess still drains.
    const settled = target > 0 && missing === 0 && active.every((t) => t.state === 'up');
    if (islander === undefined || !settled || sinceRefreshMs < p.islandRefreshMs) return plan;
    plan.refreshed = true;
    const next = take(islander)!;
    act(plan.open, next.peer, `another island: ${next.reason}, listed ${Math.round((nowMs - peerBy.get(islander)!.lastSeenMs!) / 1000)} s ago (over capacity until it is up)`);
    return plan;
  }
  plan.refreshed = true;
  if (missing > 0 || target === 0) {
    plan.reasons.push(`refresh: not at capacity (${fillingCount}/${target}), nothing to replace`);
    return plan;
  }
  const pick = trafficPick(s, eligible);
  const { why: protectedWhy, busyBytesPerSec } = protection(active, neighbours, nowMs, p, pick && { peer: pick.peer, bytesPerSec: pick.bytesPerSec, via: s.destinationVia?.get(pick.peer) });
  const ranked = active.filter((t) => t.state === 'up').sort(byScore);
  const victimAt = ranked.findIndex((t) => !protectedWhy.has(t.peer));
  // The busiest tunnels ranked below the victim (all of them when there is none) were passed over.
  const passedOver = (victimAt < 0 ? ranked : ranked.slice(0, victimAt)).filter((t) => protectedWhy.get(t.peer) === 'busiest');
  const keep = (): void => {
    plan.kept = passedOver.map((t) => ({ peer: t.peer, bytesPerSec: busyBytesPerSec.get(t.peer) ?? 0, score: tunnelScore(t) }));
    for (const k of plan.kept) plan.reasons.push(`keep ${k.peer}: busiest (${Math.round(k.bytesPerSec)} B/s)`);
  };
  const victim = ranked[victimAt];
  if (victim === undefined) {
    plan.reasons.push(`refresh: every tunnel is protected (${[...protectedWhy].map(([peer, w]) => `${peer} ${w}`).join(', ')})`);
    if (pick !== undefined || queue.length > 0) keep();
    return plan;
  }
  const replacement = pick ?? take();
  if (replacement === undefined) {
    plan.reasons.push(`refresh: no eligible peer to replace ${victim.peer} with, keeping it`);
    return plan;
  }
  adjacent.add(replacement.peer);
  keep();
  act(plan.drain, victim.peer, `refresh: lowest score ${tunnelScore(victim).toFixed(2)} (${victim.routeCount} routes, ${Math.round(victim.bytesPerSec)} B/s)`);
  act(plan.open, replacement.peer, `refresh: replaces ${victim.peer}: ${replacement.reason}`);
  if (pick !== undefined) plan.trafficOpen = { peer: pick.peer, bytesPerSec: pick.bytesPerSec, via: s.destinationVia?.get(pick.peer) ?? null, replaces: victim.peer };
  return plan;
}

function byScore(a: OutgoingTunnel, b: OutgoingTunnel): number {
  return tunnelScore(a) - tunnelScore(b) || a.openedAtMs - b.openedAtMs || (a.peer < b.peer ? -1 : 1);
}

/**
 * Peer → why its tunnel may not be replaced this round, and the traffic each
 * tunnel counts for the busiest share (the pick's traffic moves off its carrier).
 */
function protection(
  active: readonly OutgoingTunnel[],
  neighbours: ReadonlySet<string>,
  nowMs: number,
  p: TunnelPolicy,
  pick: { peer: string; bytesPerSec: number; via: string | undefined } | undefined,
): { why: Map<string, string>; busyBytesPerSec: Map<string, number> } {
  const why = new Map<string, string>();
  const busyBytesPerSec = new Map(active.map((t) => [t.peer, Math.max(0, t.bytesPerSec - (pick !== undefined && pick.via === t.peer ? pick.bytesPerSec : 0))]));
  const busy = active.filter((t) => busyBytesPerSec.get(t.peer)! >= p.steadyTrafficBytesPerSec).sort((a, b) => busyBytesPerSec.get(b.peer)! - busyBytesPerSec.get(a.peer)! || (a.peer < b.peer ? -1 : 1));
  for (const t of busy.slice(0, Math.ceil(p.busiestShare * active.length))) why.set(t.peer, 'busiest');
  for (const t of active) {
    if (nowMs - t.openedAtMs < p.minTunnelAgeMs) why.set(t.peer, 'young');
    if (t.state !== 'up') why.set(t.peer, 'not up yet');
    if (neighbours.has(t.peer)) why.set(t.peer, 'configured neighbour');
  }
  return { why, busyBytesPerSec };
}

/** The eligible (so not adjacent) destination with the most steady traffic. */
function trafficPick(s: TunnelSnapshot, eligible: (prefix: string) => boolean): (PlanAction & { bytesPerSec: number }) | undefined {
  if (s.destinationTraffic === undefined) return undefined;
  let best: [string, number] | undefined;
  for (const [prefix, bps] of s.destinationTraffic) {
    if (!(bps >= s.policy.steadyTrafficBytesPerSec) || !eligible(prefix)) continue;
    if (best === undefined || bps > best[1] || (bps === best[1] && prefix < best[0])) best = [prefix, bps];
  }
  return best === undefined ? undefined : { peer: best[0], bytesPerSec: best[1], reason: `steady traffic ${Math.round(best[1])} B/s through other nodes` };
}

/** Fisher–Yates with the injected random source; input order must be deterministic. */
function shuffle<T>(items: T[], rand: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.min(i, Math.floor(rand() * (i + 1)));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
