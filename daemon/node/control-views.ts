// The control API's answers (status, peers, tunnels, events), read from the
// running parts. Values come from what runs: the live settings (swapped only
// once a part applied them) and, for babel, what BabelLink says it runs.
import { ResilnetError } from '../../config/errors.js';
import { nodeAddress, parsePrefix } from '../../config/ipv6.js';
import type { EventsRequest, EventsResponse, PeersRequest, PeersResponse, StatusResponse, TunnelsResponse } from '../control/protocol.js';
import type { EventLog } from '../events.js';
import type { HealthRegistry } from '../health/health.js';
import { destinationViews, routeCarriers } from '../tunnels/dest-rates.js';
import { peerPath } from '../control/path-view.js';
import { peerView } from '../control/peer-view.js';
import type { RunningParts } from './parts.js';

/** What the views need besides the parts. */
export interface ViewContext {
  startedAtMs: number;
  nowMs: number;
  health: HealthRegistry;
}

const notReady = (): ResilnetError => new ResilnetError('RN_DAEMON_NOT_READY', 'the daemon is still starting. Try again in a moment.');

export function statusView(p: RunningParts, c: ViewContext): StatusResponse {
  const { identity: id, peerDb } = p;
  const held = p.network?.held;
  const settings = p.settings?.current;
  if (!id || !held || !settings || !peerDb) throw notReady();
  const peers = peerDb.listPeers();
  const tunnels = p.manager?.list() ?? [];
  const stats = p.peerproto?.stats();
  const reg = p.registrySync?.status();
  return {
    prefix: id.cert.prefix,
    address: nodeAddress(parsePrefix(id.cert.prefix)),
    networkPrefix: held.config.network_prefix,
    pid: process.pid,
    startedAtMs: c.startedAtMs,
    uptimeSec: Math.round((c.nowMs - c.startedAtMs) / 1000),
    certificate: { serial: id.cert.serial, notAfterMs: id.cert.notAfterMs },
    networkConfig: {
      version: held.config.version,
      helloIntervalSec: p.babel?.status().helloIntervalSec ?? settings.babel.helloIntervalSec,
      clientCount: settings.tunnels.clientCount,
      maxClients: settings.tunnels.manager.maxClients,
      tunnelRefreshSec: settings.tunnels.policy.refreshIntervalMs / 1000,
      source: held.origin,
    },
    peers: { total: peers.length, live: peers.filter((x) => !x.dead).length, dead: peers.filter((x) => x.dead).length },
    tunnels: {
      outgoing: tunnels.filter((t) => t.direction === 'outgoing' && t.state !== 'connecting').length,
      incoming: tunnels.filter((t) => t.direction === 'incoming' && t.state !== 'connecting').length,
      connecting: tunnels.filter((t) => t.state === 'connecting').length,
    },
    babeld: p.babel?.status() ?? { running: false, pid: null, routes: 0, neighbours: 0, helloIntervalSec: null, desiredHelloIntervalSec: settings.babel.helloIntervalSec, answering: false, pending: [] },
    registry: { url: settings.registry.url, lastContactMs: reg?.lastContactMs ?? null, lastError: reg?.lastError ?? null },
    peerProtocol: {
      port: settings.start.port,
      received: stats?.received ?? 0,
      sent: stats?.sent ?? 0,
      dropped: stats ? Object.values(stats.dropped).reduce((a, b) => a + b, 0) : 0,
      sentMac: stats?.sentMac ?? 0,
      acceptedMac: stats?.acceptedMac ?? 0,
      linkKeys: stats?.linkKeys ?? 0,
      refusals: { ...(stats?.refusals ?? {}) } as Record<string, number>,
      challengesSent: stats?.challengesSent ?? 0,
      endpointsConfirmed: stats?.endpointsConfirmed ?? 0,
    },
    underlay: p.addresses?.status() ?? { addresses: [], upnp: null, seenAddress: null },
    nat: p.nat?.report() ?? null,
    links: (p.links?.views() ?? []).map((l) => ({ peer: l.peer, interface: l.ifName, state: l.phase, lastHelloMs: l.lastHeardMs, lostSinceMs: l.lostSinceMs, flaps: l.flaps, helloEveryMs: l.helloEveryMs, helloSlowed: l.helloSlowed, beats: l.beats, closely: l.closely, deadlineMs: l.deadlineMs })),
    lan: p.lan?.status() ?? null,
    health: c.health.list().map((h) => ({ code: h.code, title: h.title, severity: h.severity, text: h.text, sinceMs: h.sinceMs })),
  };
}

export function peersView(p: RunningParts, req: PeersRequest, nowMs: number): PeersResponse {
  if (!p.peerDb) throw notReady();
  const via = destinationVia(p);
  const outgoing = p.manager?.list().filter((t) => t.direction === 'outgoing' && t.state !== 'draining').length ?? 0;
  const clientCount = p.settings?.current.tunnels.clientCount ?? 0;
  const natClass = p.nat?.natClass() ?? null;
  return {
    peers: p.peerDb.listPeers(req.dead ? { dead: true } : {}).map((x) => {
      const t = p.manager?.get(x.prefix);
      const tunnel = t ? { direction: t.direction, state: t.state } : undefined;
      return { ...peerView(x, t !== undefined), path: peerPath(x, { tunnel, via: via.get(x.prefix), outgoing, clientCount, natClass, peerNatClass: p.manager?.peerNatClass(x.prefix) ?? null }, nowMs) };
    }),
  };
}

/** Destination prefix → the peer whose tunnel carries our route to it now. */
export function destinationVia(p: RunningParts): Map<string, string> {
  return routeCarriers(p.babel?.tableView.routes ?? new Map(), p.manager?.list() ?? []);
}

export function tunnelsView(p: RunningParts, nowMs: number): TunnelsResponse {
  const destinations = p.destTraffic ? destinationViews(p.destTraffic.rates(), destinationVia(p)) : undefined;
  const tunnels = (p.manager?.views(nowMs) ?? []).map((v) => ({ ...v, flaps: p.links?.flaps(v.peer) }));
  return { tunnels, ...(destinations ? { destinations } : {}) };
}

export function eventsView(events: EventLog, req: EventsRequest): EventsResponse {
  return { events: events.list(req.limit), dropped: events.dropped };
}
