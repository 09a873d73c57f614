// The node daemon's hub: starts the parts in dependency order and wires them to each
// other; stop (node/stop.ts) takes them down in the order that leaves nothing behind.
// What the parts run with comes from one Settings object (settings.ts), changed only
// through reload.ts; everything else lives in daemon/node/ and the parts.
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { NodeConfig } from '../config/node-config.js';
import type { BootstrapPeer } from '../wire/registry-api.js';
import { staleBabelRoutesFlusher } from './babel/stale-routes.js';
import { BabelLink } from './babel-link.js';
import type { ControlBackend } from './control/commands/handler.js';
import type { EventsRequest, EventsResponse, PeersRequest, PeersResponse, ReloadReport, StatusResponse, TunnelsResponse } from './control/protocol.js';
import { ControlServer } from './control/server.js';
import { linkLocalFor, tunnelIfName } from './identity.js';
import { startNodeLan } from './lan/node-lan.js';
import { startNodeNat } from './nat/node-nat.js';
import type { NatClass } from './nat/classify.js';
import { startNodeAddresses } from './node/addresses.js';
import { nodeBabelSpec } from './node/babel-spec.js';
import { bootstrapPeersArrived, peerNatClasses, prefetchBootstrapPeers } from './node/bootstrap-peers.js';
import { networkConfigAdopted } from './node/config-adopted.js';
import { eventsView, peersView, statusView, tunnelsView } from './node/control-views.js';
import { startDestinationTraffic } from './node/dest-traffic.js';
import { startNodeGossip } from './node/gossip.js';
import { startHostSetup } from './node/host-setup.js';
import { loadIdentity, peerSelf } from './node/identity.js';
import { loadNodeMetrics } from './node/metrics.js';
import { NetworkConfigHolder } from './node/network-config.js';
import { openvpnArgv } from './node/openvpn-spec.js';
import type { RunningParts, StartProgress } from './node/parts.js';
import { nodePeerProtocol } from './node/peer-protocol.js';
import { startPeriodicJobs } from './node/periodic.js';
import { planContext } from './node/plan-context.js';
import { NodeSettings, runningPartAppliers } from './node/reconfigure.js';
import { RegistryConnection } from './node/registry-connection.js';
import { startRegistrySync } from './node/registry.js';
import { reloadNode } from './node/reload.js';
import { nodeServices, type NodeComponents, type NodeServices } from './node/services.js';
import { stopParts } from './node/stop.js';
import { startNodeSupervisor } from './node/supervisor.js';
import { NodeUpnp } from './node/upnp.js';
import { startUpnpAfterBurst } from './node/upnp-start.js';
import { reachCandidates, serveReachRequests } from './upnp/reach-node.js'; // UPnP reach checks
import { nodeAddress, parsePrefix } from '../config/ipv6.js';
import { startPunching } from './nat/punch-node.js';
import { linkBeats } from './node/link-beats.js';
import { writeUpScript } from './openvpn/up-script.js';
import { PEER_DB_FILE, PeerDb } from './peers/peer-db.js';
import { PeerHealth } from './peers/peer-health.js';
import { peerPolicyFromConfig } from './peers/retry-policy.js';
import type { LogLevel, Settings } from './settings.js';
import { stopController } from './sys/abort.js';
import { CpuPressure } from './sys/cpu-pressure.js';
import { DetourRoutes } from './tunnels/detour-routes.js';
import { LinkMonitor } from './tunnels/link-monitor.js';
import { parseHostPort, TunnelManager } from './tunnels/manager.js';
import { RouteRequests } from './tunnels/route-request.js';

export type { NodeComponents };

export class Node implements ControlBackend {
  private readonly s: NodeServices;
  private readonly stopController = stopController();
  /** The parts, each set once built. */
  private readonly p: RunningParts = {};
  private readonly progress: StartProgress = { hostSetUp: false };
  private startedAtMs = 0;
  private stopping: Promise<void> | undefined;

  /** `config`: resilnet.toml as read at start (NodeSettings holds the one in force). */
  constructor(private readonly config: NodeConfig, components: NodeComponents, private readonly options: { logLevelOverride?: LogLevel | undefined } = {}) {
    this.s = nodeServices(config.node.state_dir, components);
  }

  get prefix(): string | undefined {
    return this.p.identity?.cert.prefix;
  }

  private get settings(): Settings {
    return this.p.settings!.current;
  }

  async start(): Promise<void> {
    const { config, p } = this;
    const { clock, events, health, logs, log, lateness, rand } = this.s;
    const signal = this.stopController.signal;
    this.startedAtMs = clock.nowMs();
    const identity = (p.identity = loadIdentity(config.identity, config.path, clock.nowMs()));
    const prefix = identity.cert.prefix;
    log.info({ peer: prefix, serial: identity.cert.serial }, 'starting');
    for (const dir of [config.node.state_dir, config.node.run_dir, dirname(config.control.socket)]) mkdirSync(dir, { recursive: true, mode: 0o700 });
    // First, so that a second daemon on the same run dir stops here (before it could
    // touch the first one's children) and `resilnet status` can say "still starting".
    p.control = new ControlServer({ socketPath: config.control.socket }, { backend: this, log: logs.for('control') });
    await p.control.start();

    // [peers] in resilnet.toml: quicker first retries than the DB's default (a fresh node should find a working peer fast).
    const peerPolicy = peerPolicyFromConfig(config.peers); // a start setting (settings.start.peers): the peer DB exists before the settings do
    const peerDb = (p.peerDb = new PeerDb(join(config.node.state_dir, PEER_DB_FILE), peerPolicy));
    const registry = (p.registry = new RegistryConnection(() => p.identity!, config.registry.url));
    p.network = new NetworkConfigHolder({
      clock, log, events, peerDb, signal, caPem: identity.caPem, runDir: config.node.run_dir, configDir: dirname(config.path),
      registry: () => registry.api,
      revoke: { revalidateCerts: () => p.peerproto?.revalidateCerts() ?? [], closeRevoked: async (s) => void (await p.manager?.closeRevoked(s)) },
      onAdopted: (held) => networkConfigAdopted(held, p, events),
    });
    const held = await p.network.obtain();
    p.settings = new NodeSettings(config, held.config, { logLevel: this.options.logLevelOverride }, runningPartAppliers(p, (level) => this.s.logs.setLevel(level)), signal);
    // The start slice never changes while the node runs; live slices are read from this.settings
    // when a part is built (a reload may already have swapped one).
    const start = this.settings.start;
    log.info({ version: held.config.version, origin: held.origin, networkPrefix: start.networkPrefix }, 'network config loaded');
    const onBootstrapPeers = (peers: readonly BootstrapPeer[]) => bootstrapPeersArrived(peers, p, { nowMs: clock.nowMs(), events, log });
    prefetchBootstrapPeers(registry.api, { peerDb, settings: this.settings.registry, signal, log, onPeers: onBootstrapPeers });
    const supervisor = (p.supervisor = await startNodeSupervisor(config.node.run_dir, { clock, spawner: this.s.spawner, logs, events, health }));

    this.progress.hostSetUp = true;
    // Forwarding and our address on lo are not needed to open a tunnel: the commands run
    // while the peer protocol and the first tunnel requests start, and are waited for
    // before the start is complete (a failure still ends the start). babeld announces our
    // prefix as soon as the address is there.
    const setup = startHostSetup({ prefix, networkPrefix: start.networkPrefix }, { signal, log });
    // Per-destination traffic is first read seconds from now: its nft set-up does not hold up the start.
    this.progress.destTrafficStarting = startDestinationTraffic(start.networkPrefix, { clock, log: logs.for('tunnels'), health }).then((m) => void (p.destTraffic = m));

    lateness.start();
    const babelSpec = nodeBabelSpec(config.node, prefix, this.settings.babel.helloIntervalSec);
    const babel = (p.babel = new BabelLink(babelSpec, {
      clock, health, supervisor, lateness, log: logs.for('babel'),
      // A cost change bounces the tunnel's link: link liveness must not take that silence for a cut.
      onLinkBounce: (ifName, phase) => p.links?.plannedSilence(ifName, phase === 'start'),
      flushStaleRoutes: staleBabelRoutesFlusher(logs.for('babel')),
    }));
    // Not waited for here: statements to babeld queue behind its first one, and the peer
    // protocol and tunnel manager can start meanwhile. start() rejects only when babeld cannot be spawned.
    const babelStarted = babel.start();
    const detours = (p.detours = new DetourRoutes({
      clock, log: logs.for('tunnels'), ownPrefix: prefix, nodeAddress: babelSpec.nodeAddress,
      babel: { routes: () => babel.routes(), recentlyDropped: () => babel.recentlyDropped() },
    }));
    // Detours a killed daemon left behind; queued before any new one, not waited for.
    detours.start().catch((err: unknown) => log.warn({ err }, 'cannot remove old detour routes'));

    const upScript = writeUpScript(config.node.run_dir);
    const peerLog = logs.for('peerproto');
    const { peerproto, verifyPeerCert } = nodePeerProtocol(identity, { clock, log: peerLog, network: p.network });
    p.peerproto = peerproto;
    await peerproto.start({ port: start.port });
    // Failures and proofs of life pass through here: a cut-off host blames itself, not its peers.
    const peerHealth = (p.peerHealth = new PeerHealth({
      clock, events, health, log: logs.for('peers'), peers: peerDb,
      hello: (to, o) => peerproto.hello(to, o),
      orderAddresses: (a) => p.addresses?.dialOrder(a) ?? [...a],
      isAdjacent: (peer) => p.manager?.isAdjacent(peer) ?? false,
      lastRegistryContactMs: () => p.registrySync?.status().lastContactMs ?? null,
    }, { probeIntervalMs: PeerHealth.probeIntervalFor(peerPolicy) }));
    peerHealth.listenTo(peerproto);
    peerHealth.start();

    const routeRequests = (p.routeRequests = new RouteRequests({ clock, log: logs.for('babel'), helloIntervalSec: () => babel.helloIntervalSec }));
    const manager = (p.manager = new TunnelManager({ ownPrefix: prefix, ...this.settings.tunnels.manager }, {
      clock, events, supervisor, peerproto, babel, detours, log: logs.for('tunnels'), peers: peerHealth, rand, ifNameFor: tunnelIfName,
      openvpnArgv: (end) => openvpnArgv(end, { settings: this.settings, prefix, upScript }),
      planContext: () => planContext(p, lateness),
      orderAddresses: (a) => p.addresses?.dialOrder(a) ?? [...a],
      onLocalSubnet: (host) => p.addresses?.onLocalSubnet(host) ?? false,
      onPeerDown: (peer, reason) => p.links?.peerSaysDown(peer, reason),
      replanSoon: () => p.jobs?.replanSoon(),
      requestRoutes: (ifName, peer) => routeRequests.tunnelUp(ifName, linkLocalFor(peer), peer),
      tunnelPortFor: (port, from) => (p.upnp && p.addresses ? p.upnp.tunnelPortFor(port, from.host, p.addresses.localAddresses().map((a) => a.cidr)) : port),
    }));
    manager.start();

    const upPeers = () => manager.list().filter((t) => t.state === 'up');
    p.gossip = startNodeGossip({ ownPrefix: prefix, networkPrefix: start.networkPrefix, port: start.port }, {
      clock, peerproto, log: peerLog, peers: peerDb, rand, network: p.network,
      adjacentPeers: () => upPeers().map((t) => t.peer),
    });

    const links = (p.links = new LinkMonitor({
      clock, events, peerproto, babel, manager, detours, supervisor, lateness, log: logs.for('links'),
      pressure: new CpuPressure({ clock }),
      tunnels: () => manager.list(),
      settings: () => this.settings.links,
      defaultPeerPort: (peer) => parseHostPort(peerDb.getPeer(peer)?.addresses[0] ?? '')?.port ?? this.settings.start.port,
      ...linkBeats(logs.for('links')),
    }));
    links.start();
    p.addresses = startNodeAddresses({ ownPrefix: prefix, networkPrefix: start.networkPrefix }, {
      clock, peerproto, log: logs.for('addresses'), peers: peerDb, settings: () => this.settings,
      adjacent: () => upPeers().map((t) => ({ peer: t.peer, ifName: t.ifName })),
      peerPort: (peer) => links.peerPort(peer),
      onChange: () => p.registrySync?.trigger(),
    });
    const onNatClass = (natClass: NatClass): void => {
      p.registrySync?.trigger();
      // Not inside whatever read the class (the manager itself, planning or answering).
      queueMicrotask(() => void manager.selfNatClassChanged(natClass).catch((err: unknown) => log.warn({ err }, 'tunnels not updated for our NAT class')));
    };
    p.nat = startNodeNat({ clock, log: logs.for('nat'), config: config.nat, addresses: () => p.addresses, onChange: onNatClass, upnpReach: () => p.upnp?.reachEvidence() ?? null });
    startPunching({ clock, log: logs.for('nat'), peerproto, manager, natClass: () => p.nat?.natClass() ?? null, stun: config.nat.stun, peerPort: start.port, classes: peerNatClasses(p) });

    p.jobs = startPeriodicJobs({
      clock, manager, signal, log,
      destTraffic: () => p.destTraffic,
      peerPrefixes: () => peerDb.listPeers().map((x) => x.prefix),
      clientCount: () => this.settings.tunnels.clientCount,
    });
    p.registrySync = startRegistrySync({
      clock, health, events, registry, peerDb, manager, log: logs.for('registry'), network: p.network,
      settings: () => this.settings,
      identity: { get: () => p.identity!, set: (id) => void (p.identity = id) },
      addresses: () => p.addresses,
      nat: () => p.nat,
      onBootstrapPeers,
    });
    // LAN neighbours (lan.interfaces): found and verified without the registry.
    p.lan = await startNodeLan(config.lan, {
      clock, health, events, peerDb, verifyCert: verifyPeerCert, log: logs.for('lan'),
      identity: { ...peerSelf(identity), caPem: identity.caPem },
      peerPort: () => this.settings.start.port,
      registryUrl: () => this.settings.registry.url,
      replanSoon: () => p.jobs?.replanSoon(),
      interfaces: () => p.addresses!.interfaces(),
    });
    // UPnP reach checks: every node probes peers' mappings on request; ours is announced once a peer's probe arrived.
    serveReachRequests({ clock, log: logs.for('upnp'), peerproto });
    const reach = {
      peerproto, events, peerPort: () => this.settings.start.port,
      candidates: () => reachCandidates(upPeers().map((t) => t.peer), peerDb.listPeers(), (peer) => ({ host: nodeAddress(parsePrefix(peer)), port: links.peerPort(peer), prefix: peer })),
    };
    p.upnp = new NodeUpnp({ clock, health, signal, log: logs.for('upnp'), onExternalAddress: (a) => p.addresses?.setUpnp(a), reach });
    startUpnpAfterBurst({ clock, signal, tunnels: () => p.manager?.list() ?? [], start: () => p.upnp?.startLater(this.settings.upnp, 0) });

    const failed = await setup;
    if (failed) throw failed.err;
    await babelStarted;
    events.add('daemon', `node ${prefix} started (network config version ${held.config.version}, hello ${babel.helloIntervalSec} s)`);
    this.progress.metrics = loadNodeMetrics(config.metrics, { parts: p, clock, health, log: logs.for('metrics'), lateness, startedAtMs: this.startedAtMs }, log);
  }

  reload(): Promise<ReloadReport> {
    return reloadNode(this.p, this.progress, this.s);
  }

  stop(): Promise<void> {
    if (!this.stopping) {
      this.stopController.abort(new Error('daemon stopping'));
      this.stopping = stopParts(this.p, this.progress, this.s);
    }
    return this.stopping;
  }

  // ---- control API --------------------------------------------------------------

  status(): StatusResponse {
    return statusView(this.p, { startedAtMs: this.startedAtMs, nowMs: this.s.clock.nowMs(), health: this.s.health });
  }

  peers(req: PeersRequest): PeersResponse {
    return peersView(this.p, req, this.s.clock.nowMs());
  }

  tunnels(): TunnelsResponse {
    return tunnelsView(this.p, this.s.clock.nowMs());
  }

  events(req: EventsRequest): EventsResponse {
    return eventsView(this.s.events, req);
  }
}
