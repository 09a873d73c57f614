// LAN discovery wired to a running node: our identity signs, the peer
// protocol's certificate check verifies, a neighbour lands in the peer DB (an
// event line when it is new or its LAN endpoints changed) and the planner is
// asked to look again. Everything here works with the registry unreachable.
import { networkInterfaces } from 'node:os';
import type { NodeConfig } from '../../config/node-config.js';
import { caFingerprint } from '../../pki/identity.js';
import type { InterfaceSnapshot } from '../addresses/addresses.js';
import type { EventLog } from '../events.js';
import type { HealthRegistry } from '../health/health.js';
import type { VerifiedPeerCert } from '../peerproto/protocol.js';
import type { PeerDb } from '../peers/peer-db.js';
import type { Clock } from '../sys/clock.js';
import type { LanDeps, LanDiscovery } from './discovery.js';

/** Peers passed on in each announcement: enough for a node with none to get going. */
const SHARED_PEERS = 4;

export interface NodeLanDeps {
  clock: Clock;
  log: LanDeps['log'];
  health: HealthRegistry;
  events: EventLog;
  peerDb: PeerDb;
  identity: { prefix: string; caPem: string; certDer: Buffer; sign(data: Buffer): Buffer };
  verifyCert: (certDer: Buffer) => VerifiedPeerCert;
  peerPort: () => number;
  registryUrl: () => string | undefined;
  replanSoon: () => void;
  /**
   * The host's interfaces: the address announcer's reading (re-read every 30 s), so the
   * LAN announcements cost no netlink dump of their own; without it, read at each announcement.
   */
  interfaces?: () => InterfaceSnapshot;
}

/** Undefined when lan.interfaces is empty (the default): nothing is bound or sent. */
export async function startNodeLan(lan: NodeConfig['lan'], d: NodeLanDeps): Promise<LanDiscovery | undefined> {
  if (lan.interfaces.length === 0) return undefined;
  // Loaded only when configured (off by default): not part of every daemon's start.
  const [{ LanDiscovery }, { adoptNeighbour, peersToShare }] = await Promise.all([import('./discovery.js'), import('./adopt.js')]);
  const self = d.identity.prefix;
  const discovery = new LanDiscovery(
    { interfaces: lan.interfaces, intervalMs: lan.interval * 1000, port: lan.port },
    {
      clock: d.clock,
      log: d.log,
      health: d.health,
      self: { prefix: self, certDer: d.identity.certDer, sign: d.identity.sign, caFingerprint: Buffer.from(caFingerprint(d.identity.caPem).slice('sha256:'.length), 'hex') },
      verifyCert: d.verifyCert,
      readInterfaces: d.interfaces ?? (() => networkInterfaces()),
      peerPort: d.peerPort,
      registryUrl: d.registryUrl,
      sharedPeers: () => peersToShare(d.peerDb.listPeers({ dead: false }), SHARED_PEERS, new Set([self])),
      onNeighbour: ({ sender, ifName, announcement }) => {
        const r = adoptNeighbour(
          { prefix: sender.prefix, serial: sender.serial, endpoints: announcement.endpoints, peers: announcement.peers },
          { self, peerDb: d.peerDb, nowMs: d.clock.nowMs() },
        );
        if (r.changed) d.events.add('peer-learned', `peer ${sender.prefix} found on LAN ${ifName} (${announcement.endpoints.join(', ')})`, sender.prefix);
        for (const p of r.learnedPeers) d.events.add('peer-learned', `peer ${p} learned from LAN neighbour ${sender.prefix}`, p);
        if (r.changed || r.learnedPeers.length) d.replanSoon();
      },
    },
  );
  await discovery.start();
  return discovery;
}
