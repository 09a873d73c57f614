// Peers handed out by the registry's bootstrap call, into the peer DB.
import type { BootstrapPeer } from '../../wire/registry-api.js';
import type { EventLog } from '../events.js';
import type { PeerDb } from '../peers/peer-db.js';

/** Stores every peer but ourselves; a new one is an event. Returns how many were new. */
export function addBootstrapPeers(peers: readonly BootstrapPeer[], to: { self: string; peerDb: PeerDb; events: EventLog; nowMs: number }): number {
  let created = 0;
  for (const p of peers) {
    if (p.prefix === to.self) continue;
    const r = to.peerDb.upsertPeer({ prefix: p.prefix, addresses: p.addresses, source: 'registry' }, to.nowMs);
    if (!r.created) continue;
    created++;
    to.events.add('peer-learned', `peer ${p.prefix} learned from the registry (${p.addresses.join(', ')})`, p.prefix);
  }
  return created;
}
