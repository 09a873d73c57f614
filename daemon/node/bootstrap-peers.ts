// Peers handed out by the registry's bootstrap call, into the peer DB and the node's plan,
// with their NAT classes into the record hole punching and the tunnel manager read.
import type { Logger } from 'pino';
import type { BootstrapPeer } from '../../wire/registry-api.js';
import type { EventLog } from '../events.js';
import { PeerNatClasses } from '../nat/peer-classes.js';
import type { PeerDb } from '../peers/peer-db.js';
import type { RegistrySettings } from '../settings.js';
import { isPeerEndpoint } from '../sys/host-port.js';
import type { RunningParts } from './parts.js';

/**
 * Stores every peer but ourselves; a new one is an event. Returns how many were new.
 * Addresses no peer could use (an older registry may still serve them: config/peer-address.ts)
 * are left out and counted in `skipped`.
 */
export function addBootstrapPeers(
  peers: readonly BootstrapPeer[],
  to: { self: string; peerDb: Pick<PeerDb, 'upsertPeer'>; events: Pick<EventLog, 'add'>; nowMs: number; skipped?: { count: number } },
): number {
  let created = 0;
  for (const p of peers) {
    if (p.prefix === to.self) continue;
    const addresses = p.addresses.filter(isPeerEndpoint);
    if (to.skipped) to.skipped.count += p.addresses.length - addresses.length;
    const r = to.peerDb.upsertPeer({ prefix: p.prefix, addresses, source: 'registry' }, to.nowMs);
    if (!r.created) continue;
    created++;
    to.events.add('peer-learned', `peer ${p.prefix} learned from the registry (${addresses.join(', ') || 'no usable address'})`, p.prefix);
  }
  return created;
}

/**
 * The node's record of peers' NAT classes, made on first use: the answer to the bootstrap
 * call at start can arrive before hole punching is wired (node.ts hands it the same record).
 */
export function peerNatClasses(p: Pick<RunningParts, 'peerClasses'>): PeerNatClasses {
  return (p.peerClasses ??= new PeerNatClasses());
}

/** Each peer's class as it reported it at its `last_seen` (not ours: we know our own). */
export function learnBootstrapClasses(peers: readonly BootstrapPeer[], to: { self: string; classes: Pick<PeerNatClasses, 'fromRegistry'> }): void {
  for (const p of peers) if (p.prefix !== to.self) to.classes.fromRegistry(p.prefix, p.nat_class, Date.parse(p.last_seen));
}

/**
 * One bootstrap call at start when the peer DB knows too few live peers, so the first tunnel
 * requests can go out while babeld starts; failures are left to RegistrySync, which asks again.
 */
export function prefetchBootstrapPeers(
  api: { bootstrap(count: number, o: { signal: AbortSignal }): Promise<{ peers: BootstrapPeer[] }> },
  d: { peerDb: Pick<PeerDb, 'listPeers'>; settings: Pick<RegistrySettings, 'minLivePeers' | 'bootstrapCount'>; signal: AbortSignal; log: Pick<Logger, 'debug'>; onPeers: (peers: BootstrapPeer[]) => void },
): void {
  if (d.peerDb.listPeers({ dead: false }).length >= d.settings.minLivePeers) return;
  api.bootstrap(d.settings.bootstrapCount, { signal: d.signal })
    .then(({ peers }) => !d.signal.aborted && d.onPeers(peers))
    .catch((err: unknown) => d.log.debug({ err }, 'early bootstrap failed; the registry sync retries'));
}

/**
 * Bootstrap peers from the registry (at start or from the registry sync): into the peer DB,
 * seen by peer health (the registry heard from them lately), and a plan round soon.
 */
export function bootstrapPeersArrived(
  peers: readonly BootstrapPeer[],
  p: Pick<RunningParts, 'identity' | 'peerDb' | 'peerHealth' | 'jobs' | 'peerClasses'>,
  d: { nowMs: number; events: Pick<EventLog, 'add'>; log: Pick<Logger, 'warn'> },
): void {
  const skipped = { count: 0 };
  const self = p.identity!.cert.prefix;
  addBootstrapPeers(peers, { self, peerDb: p.peerDb!, events: d.events, nowMs: d.nowMs, skipped });
  learnBootstrapClasses(peers, { self, classes: peerNatClasses(p) });
  if (skipped.count > 0) d.log.warn({ skipped: skipped.count }, 'the registry listed peer addresses no peer can use (zone IDs, loopback, link-local…); left out');
  p.peerHealth?.registrySaw(peers, d.nowMs);
  p.jobs?.replanSoon();
}
