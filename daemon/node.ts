// The node daemon's hub: starts the parts in dependency order, wires them to
// each other, and stops them in the order that leaves nothing behind. What the
// parts run with comes from one Settings object (settings.ts), changed only
// through reload.ts; everything else lives in daemon/node/ and the parts.
import { mkdirSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { ResilnetError } from '../config/errors.js';
import { nodeAddress, parsePrefix } from '../config/ipv6.js';
import { metricsAddress } from '../config/metrics-listen.js';
import type { NodeConfig } from '../config/node-config.js';
import { AddressAnnouncer } from './addresses/announcer.js';
import { BabelLink } from './babel-link.js';
import type { ControlBackend } from './control/commands/handler.js';
import type { EventsRequest, EventsResponse, PeersRequest, PeersResponse, ReloadReport, StatusResponse, TunnelsResponse } from './control/protocol.js';
import { ControlServer } from './control/server.js';
import { EventLog } from './events.js';
import { persistentEventSink, type EventWriter } from './events-store.js';
import { Gossip } from './gossip.js';
import { HealthRegistry } from './health/health.js';
import { startNodeLan } from './lan/node-lan.js';
import { babelRouterId, linkLocalFor, tunnelIfName } from './identity.js';
import { addBootstrapPeers, prefetchBootstrapPeers } from './node/bootstrap-peers.js';
import { eventsView, peersView, statusView, tunnelsView } from './node/control-views.js';
import type { RunningParts } from './node/parts.js';
import { planContext } from './node/plan-context.js';
import { startDestinationTraffic } from './node/dest-traffic.js';
import { loadIdentity, peerSelf } from './node/identity.js';
import { NetworkConfigHolder } from './node/network-config.js';
import { openvpnArgv } from './node/openvpn-spec.js';
import { startPeriodicJobs } from './node/periodic.js';
import { nodeAppliers, NodeSettings } from './node/reconfigure.js';
import { RegistryConnection } from './node/registry-connection.js';
import { startRegistrySync } from './node/registry.js';
import { reportSupervisorEvent } from './node/supervisor-events.js';
import { NodeUpnp } from './node/upnp.js';
import { startNodeNat } from './nat/node-nat.js';
import { startPunching } from './nat/punch-node.js';
import { writeUpScript } from './openvpn/up-script.js';
import { makePeerCertVerifier, PeerProtocol } from './peerproto/index.js';
import { PEER_DB_FILE, PeerDb } from './peers/peer-db.js';
import { PeerHealth } from './peers/peer-health.js';
import { peerPolicyFromConfig } from './peers/retry-policy.js';
import { outcomeSummary, reportSummary } from './reload.js';
import { TIMING, type LogLevel, type Settings } from './settings.js';
import { cleanStaleChildren, Supervisor } from './supervisor/index.js';
import { logChildOutput } from './supervisor/child-log.js';
import type { Clock } from './sys/clock.js';
import { applyCommands, planNodeSetup, planNodeTeardown, planTunnelTeardown } from './sys/interfaces.js';
import type { Spawner } from './sys/spawner.js';
import { DetourRoutes } from './tunnels/detour-routes.js';
import { LinkMonitor } from './tunnels/link-monitor.js';
import type { RunningNodeMetrics } from './metrics/node-endpoint.js';
import { LatenessMeter } from './sys/lateness.js';
import { RouteRequests } from './tunnels/route-request.js';
import { parseHostPort, TunnelManager } from './tunnels/manager.js';
import { stopController } from './sys/abort.js';

/** UPnP starts when the start-up burst is over, and no later than this after the start. */
const UPNP_START_LATEST_MS = 15_000;

export interface NodeComponents {
  clock: Clock;
  spawner: Spawner;
  log: Logger;
  rand?: () => number;
}

export class Node implements ControlBackend {
  /** resilnet.toml as read at start (NodeSettings holds the one in force). */
  private readonly config: NodeConfig;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly spawner: Spawner;
  private readonly rand: () => number;
  private readonly eventLog: EventLog;
  private readonly eventStore: EventWriter;
  private readonly health: HealthRegistry;
  private readonly stopController = stopController();
  /** Component loggers: pino children keep their own level, so a log-level change sets each. */
  private readonly logs = new Map<string, Logger>();
  private readonly logLevel: LogLevel | undefined;
  /** The parts, each set once built. */
  private readonly p: RunningParts = {};
  private destTrafficStarting: Promise<void> | undefined;
  private setupDone = false;
  private startedAtMs = 0;
  private stopping: Promise<void> | undefined;
  private routeRequests: RouteRequests | undefined;
  /** How late the daemon's timers fire: babeld's deadlines widen by it; metrics report it. */
  private readonly lateness: LatenessMeter;
  private metrics: Promise<RunningNodeMetrics | undefined> | undefined;

  constructor(config: NodeConfig, components: NodeComponents, options: { logLevelOverride?: LogLevel | undefined } = {}) {
    this.config = config;
    this.log = components.log;
    this.clock = components.clock;
    this.spawner = components.spawner;
    this.rand = components.rand ?? Math.random;
    this.logLevel = options.logLevelOverride;
    const eventLog = this.componentLog('events');
    this.eventStore = persistentEventSink(config.node.state_dir, { clock: this.clock, log: eventLog });
    this.eventLog = new EventLog({ clock: this.clock, log: (l) => eventLog.info({ kind: l.kind, peer: l.peer }, l.text), sink: this.eventStore });
    this.health = new HealthRegistry({ clock: this.clock, log: this.componentLog('health') });
    this.lateness = new LatenessMeter(this.clock);
  }

  get prefix(): string | undefined {
    return this.p.identity?.cert.prefix;
  }

  private get settings(): Settings {
    return this.p.settings!.current;
  }

  // ---- start ---------------------------------------------------------------

  async start(): Promise<void> {
    const signal = this.stopController.signal;
    const { clock, eventLog: events, health } = this;
    this.startedAtMs = clock.nowMs();
    const config = this.config;
    const identity = (this.p.identity = loadIdentity(config.identity, config.path, clock.nowMs()));
    const prefix = identity.cert.prefix;
    this.log.info({ peer: prefix, serial: identity.cert.serial }, 'starting');
    for (const dir of [config.node.state_dir, config.node.run_dir, dirname(config.control.socket)]) mkdirSync(dir, { recursive: true, mode: 0o700 });
    // First, so that a second daemon on the same run dir stops here (before it could
    // touch the first one's children) and `resilnet status` can say "still starting".
    this.p.control = new ControlServer({ socketPath: config.control.socket }, { backend: this, log: this.componentLog('control') });
    await this.p.control.start();

    // [peers] in resilnet.toml: quicker first retries than the DB's default (a fresh node should find a working peer fast).
    const peerPolicy = peerPolicyFromConfig(config.peers); // a start setting (settings.start.peers): the peer DB exists before the settings do
    const peerDb = (this.p.peerDb = new PeerDb(join(config.node.state_dir, PEER_DB_FILE), peerPolicy));
    const registry = (this.p.registry = new RegistryConnection(() => this.p.identity!, config.registry.url));
    this.p.network = new NetworkConfigHolder({
      clock, log: this.log, events, peerDb, signal,
      caPem: identity.caPem,
      runDir: config.node.run_dir,
      configDir: dirname(config.path),
      registry: () => registry.api,
      revoke: { revalidateCerts: () => this.p.peerproto?.revalidateCerts() ?? [], closeRevoked: async (s) => void (await this.p.manager?.closeRevoked(s)) },
      onAdopted: async (held) => {
        const outcomes = await this.p.settings!.adopt(held.config);
        if (outcomes.length) events.add('network-config', `settings of version ${held.config.version}: ${outcomeSummary(outcomes)}`);
        void this.p.gossip?.spreadConfig(held.origin.startsWith('peer ') ? held.origin.slice(5) : undefined);
      },
    });
    const held = await this.p.network.obtain();
    this.p.settings = new NodeSettings(config, held.config, { logLevel: this.logLevel }, this.appliers(), signal);
    // The start slice never changes while the node runs; live slices are read from this.settings
    // when a part is built (a reload may already have swapped one).
    const start = this.settings.start;
    this.log.info({ version: held.config.version, origin: held.origin, networkPrefix: start.networkPrefix }, 'network config loaded');
    const { minLivePeers, bootstrapCount } = this.settings.registry;
    const livePeers = peerDb.listPeers({ dead: false }).length;
    prefetchBootstrapPeers(registry.api, { livePeers, minLivePeers, count: bootstrapCount, signal, log: this.log, onPeers: (peers) => this.addBootstrapPeers(peers) });

    // Children an earlier run left behind (after kill -9) go before anything is spawned.
    const stale = await cleanStaleChildren(config.node.run_dir, { clock });
    if (stale.stopped.length) this.log.warn({ children: stale.stopped.map((c) => c.name) }, 'stopped children of an earlier run');

    this.setupDone = true;
    // Forwarding and our address on lo are not needed to open a tunnel: the commands run
    // while the peer protocol and the first tunnel requests start, and are waited for
    // before the start is complete (a failure still ends the start). babeld announces our
    // prefix as soon as the address is there.
    const setup = applyCommands(planNodeSetup({ prefix, networkPrefix: start.networkPrefix }), {
      retry: { signal, onRetry: (r, attempt, delayMs) => this.log.warn({ argv: r.argv, attempt, delayMs }, 'network setup command timed out; retrying') },
    }).then(() => undefined, (err: unknown) => ({ err }));
    // Per-destination traffic is first read seconds from now: its nft set-up does not hold up the start.
    this.destTrafficStarting = startDestinationTraffic(start.networkPrefix, { clock, log: this.componentLog('tunnels'), health }).then((m) => void (this.p.destTraffic = m));

    const supervisor = (this.p.supervisor = new Supervisor({ spawner: this.spawner, clock, runDir: config.node.run_dir }));
    supervisor.on((ev) => reportSupervisorEvent(ev, { log: this.componentLog('supervisor'), events, health }));
    logChildOutput(supervisor, this.componentLog('children'));

    const address = nodeAddress(parsePrefix(prefix));
    this.lateness.start();
    const babel = (this.p.babel = new BabelLink(
      {
        socketPath: join(config.node.run_dir, 'babeld.sock'),
        stateFile: join(config.node.state_dir, 'babeld.state'),
        helloIntervalSec: this.settings.babel.helloIntervalSec,
        routerId: babelRouterId(prefix),
        ownPrefix: prefix,
        nodeAddress: address,
      },
      // A cost change bounces the tunnel's link: link liveness must not take that silence for a cut.
      { clock, health, lateness: this.lateness, log: this.componentLog('babel'), supervisor, onLinkBounce: (ifName, phase) => this.p.links?.plannedSilence(ifName, phase === 'start') },
    ));
    // Not waited for here: statements to babeld queue behind its first one, and the peer
    // protocol and tunnel manager can start meanwhile. start() rejects only when babeld cannot be spawned.
    const babelStarted = babel.start();
    const detours = (this.p.detours = new DetourRoutes({
      clock,
      log: this.componentLog('tunnels'),
      babel: { routes: () => babel.routes(), recentlyDropped: () => babel.recentlyDropped() },
      ownPrefix: prefix,
      nodeAddress: address,
    }));
    // Detours a killed daemon left behind; queued before any new one, not waited for.
    detours.start().catch((err: unknown) => this.log.warn({ err }, 'cannot remove old detour routes'));

    const upScript = writeUpScript(config.node.run_dir);
    const peerLog = this.componentLog('peerproto');
    const verifyPeerCert = makePeerCertVerifier({ caPem: identity.caPem, clock, revokedSerials: () => this.p.network!.revoked });
    const peerproto = (this.p.peerproto = new PeerProtocol({
      clock,
      self: peerSelf(identity),
      verifyPeerCert,
      log: peerLog,
      configVersion: () => this.p.network!.held?.config.version,
    }));
    await peerproto.start({ port: start.port });
    // Failures and proofs of life pass through here: a cut-off host blames itself, not its peers.
    const peerHealth = (this.p.peerHealth = new PeerHealth(
      {
        clock, events, health,
        log: this.componentLog('peers'),
        peers: peerDb,
        hello: (to, o) => peerproto.hello(to, o),
        orderAddresses: (a) => this.p.addresses?.dialOrder(a) ?? [...a],
        isAdjacent: (p) => this.p.manager?.isAdjacent(p) ?? false,
        lastRegistryContactMs: () => this.p.registrySync?.status().lastContactMs ?? null,
      },
      { probeIntervalMs: PeerHealth.probeIntervalFor(peerPolicy) },
    ));
    peerHealth.listenTo(peerproto);
    peerHealth.start();

    const routeRequests = (this.routeRequests = new RouteRequests({ clock, log: this.componentLog('babel') }));
    const manager = (this.p.manager = new TunnelManager({ ownPrefix: prefix, ...this.settings.tunnels.manager }, {
      clock, events, supervisor, peerproto, babel, detours,
      log: this.componentLog('tunnels'),
      peers: peerHealth,
      openvpnArgv: (end) => openvpnArgv(end, { settings: this.settings, prefix, upScript }),
      ifNameFor: tunnelIfName,
      planContext: () => planContext(this.p),
      orderAddresses: (a) => this.p.addresses?.dialOrder(a) ?? [...a],
      rand: this.rand,
      onPeerDown: (peer, reason) => this.p.links?.peerSaysDown(peer, reason),
      replanSoon: () => this.p.jobs?.replanSoon(),
      requestRoutes: (ifName, peer) => routeRequests.tunnelUp(ifName, linkLocalFor(peer)),
    }));
    manager.start();

    const upPeers = () => manager.list().filter((t) => t.state === 'up');
    this.p.gossip = new Gossip(
      { ownPrefix: prefix, networkPrefix: start.networkPrefix, defaultPort: start.port, intervalMs: TIMING.gossipMs, requestTimeoutMs: TIMING.peerRequestTimeoutMs, peerListCount: 32 },
      {
        clock, peerproto,
        log: peerLog,
        peers: peerDb,
        adjacentPeers: () => upPeers().map((t) => t.peer),
        config: () => ({ version: this.p.network!.held!.config.version, signed: this.p.network!.held!.signed }),
        onNetworkConfig: (signed, from) => this.p.network!.offer(signed, `peer ${from}`),
        rand: this.rand,
      },
    );
    this.p.gossip.start();

    const links = (this.p.links = new LinkMonitor({
      clock, events, peerproto, babel, manager, detours, supervisor,
      log: this.componentLog('links'),
      tunnels: () => manager.list(),
      settings: () => this.settings.links,
      defaultPeerPort: (peer) => parseHostPort(peerDb.getPeer(peer)?.addresses[0] ?? '')?.port ?? this.settings.start.port,
    }));
    links.start();
    this.p.addresses = new AddressAnnouncer(
      { ownPrefix: prefix, networkPrefix: start.networkPrefix, checkIntervalMs: 5_000, reannounceIntervalMs: 300_000 },
      {
        clock, peerproto,
        log: this.componentLog('addresses'),
        peers: peerDb,
        readInterfaces: () => networkInterfaces(),
        settings: () => ({ port: this.settings.start.port, configured: this.settings.underlay.addresses }),
        adjacent: () => upPeers().map((t) => ({ peer: t.peer, ifName: t.ifName })),
        peerPort: (peer) => links.peerPort(peer),
        onChange: () => this.p.registrySync?.trigger(),
      },
    );
    this.p.addresses.start();
    this.p.nat = startNodeNat({
      clock,
      log: this.componentLog('nat'),
      config: this.config.nat,
      addresses: () => this.p.addresses,
      onChange: () => this.p.registrySync?.trigger(),
    });
    // Hole punching (punch task wiring: daemon/nat/punch-node.ts).
    startPunching({ clock, log: this.componentLog('nat'), peerproto, manager, natClass: () => this.p.nat?.natClass() ?? null, stun: this.config.nat.stun, peerPort: start.port });

    this.p.jobs = startPeriodicJobs({
      clock, manager, signal,
      log: this.log,
      destTraffic: () => this.p.destTraffic,
      peerPrefixes: () => peerDb.listPeers().map((p) => p.prefix),
      clientCount: () => this.settings.tunnels.clientCount,
    });
    this.p.registrySync = startRegistrySync({
      clock, health, events, registry, peerDb, manager,
      log: this.componentLog('registry'),
      settings: () => this.settings,
      identity: { get: () => this.p.identity!, set: (id) => void (this.p.identity = id) },
      network: this.p.network,
      addresses: () => this.p.addresses,
      nat: () => this.p.nat,
      onBootstrapPeers: (peers) => this.addBootstrapPeers(peers),
    });
    // LAN neighbours (lan.interfaces): found and verified without the registry.
    this.p.lan = await startNodeLan(config.lan, {
      clock, health, events, peerDb, verifyCert: verifyPeerCert,
      log: this.componentLog('lan'),
      identity: { ...peerSelf(identity), caPem: identity.caPem },
      peerPort: () => this.settings.start.port,
      registryUrl: () => this.settings.registry.url,
      replanSoon: () => this.p.jobs?.replanSoon(),
    });
    const upnpLog = this.componentLog('upnp');
    this.p.upnp = new NodeUpnp({ clock, health, signal, log: upnpLog, onExternalAddress: (a) => this.p.addresses?.setUpnp(a) });
    this.startUpnpAfterBurst(clock, signal);

    const failed = await setup;
    if (failed) throw failed.err;
    await babelStarted;
    events.add('daemon', `node ${prefix} started (network config version ${held.config.version}, hello ${babel.helloIntervalSec} s)`);
    // Loaded after the start (its own bundle chunk), only when [metrics] is on.
    const metricsDeps = { parts: this.p, clock, health, log: this.componentLog('metrics'), lateness: this.lateness, startedAtMs: this.startedAtMs };
    this.metrics = metricsAddress(config.metrics)
      ? import('./metrics/node-endpoint.js').then((m) => m.startNodeMetrics(config.metrics, metricsDeps)).catch((err: unknown) => void this.log.warn({ err }, 'metrics not started'))
      : undefined;
  }

  /**
   * Loading the UPnP client takes seconds of CPU on a busy machine, and blocks the event
   * loop meanwhile: it starts once the first tunnels are up and none is still connecting
   * (the start-up burst is over), and at the latest UPNP_START_LATEST_MS after the start.
   */
  private startUpnpAfterBurst(clock: Clock, signal: AbortSignal): void {
    const startedAtMs = clock.nowMs();
    const check = (): void => {
      if (signal.aborted) return;
      const tunnels = this.p.manager?.list() ?? [];
      const settled = tunnels.some((t) => t.state === 'up') && tunnels.every((t) => t.state !== 'connecting');
      const waitedMs = clock.nowMs() - startedAtMs;
      if ((settled && waitedMs >= TIMING.upnpStartDelayMs) || waitedMs >= UPNP_START_LATEST_MS) this.p.upnp?.startLater(this.settings.upnp, 0);
      else clock.setTimeout(check, 500);
    };
    clock.setTimeout(check, TIMING.upnpStartDelayMs);
  }

  private componentLog(component: string): Logger {
    let child = this.logs.get(component);
    if (!child) this.logs.set(component, (child = this.log.child({ component })));
    return child;
  }

  private appliers() {
    return nodeAppliers({
      setLogLevel: (level) => {
        this.log.level = level;
        for (const child of this.logs.values()) child.level = level;
      },
      babel: () => this.p.babel,
      tunnels: () => this.p.manager,
      registry: () => this.p.registrySync,
      upnp: () => this.p.upnp,
      replanSoon: () => this.p.jobs?.replanSoon(),
    });
  }

  private addBootstrapPeers(peers: Parameters<typeof addBootstrapPeers>[0]): void {
    const nowMs = this.clock.nowMs();
    const skipped = { count: 0 };
    addBootstrapPeers(peers, { self: this.p.identity!.cert.prefix, peerDb: this.p.peerDb!, events: this.eventLog, nowMs, skipped });
    if (skipped.count > 0) this.log.warn({ skipped: skipped.count }, 'the registry listed peer addresses no peer can use (zone IDs, loopback, link-local…); left out');
    this.p.peerHealth?.registrySaw(peers, nowMs);
    this.p.jobs?.replanSoon();
  }

  // ---- reload ---------------------------------------------------------------

  async reload(): Promise<ReloadReport> {
    if (!this.p.settings) throw new ResilnetError('RN_DAEMON_NOT_READY', 'the daemon is still starting. Try again in a moment.');
    const report = await this.p.settings.reload(() => this.p.network!.held!.config).catch(async (err: unknown) => {
      (await this.metrics)?.reloaded('refused');
      throw err;
    });
    (await this.metrics)?.reloaded(report.failed.length ? 'failed' : 'applied');
    this.eventLog.add('reload', `reload: ${reportSummary(report)}`);
    this.log.info({ applied: report.applied.map((i) => i.key), pending: report.pending, skipped: report.skipped.map((i) => i.key), failed: report.failed }, 'reloaded');
    return report;
  }

  // ---- stop -------------------------------------------------------------------

  /** babeld first (its retractions go out), then tunnels, then addresses/routes, then the control socket. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    this.stopController.abort(new Error('daemon stopping'));
    const step = async (what: string, fn: () => Promise<unknown> | unknown): Promise<void> => {
      try {
        await fn();
      } catch (err) {
        this.log.warn({ err, step: what }, 'stop step failed');
      }
    };
    await step('metrics', async () => (await this.metrics)?.stop());
    await step('registry', () => this.p.registrySync?.stop());
    await step('gossip', () => this.p.gossip?.stop());
    await step('links', () => this.p.links?.stop());
    await step('peer health', () => this.p.peerHealth?.stop());
    await step('addresses', () => this.p.addresses?.stop());
    await step('lan', () => this.p.lan?.stop());
    this.p.nat?.stop();
    await step('periodic', () => this.p.jobs?.idle());
    this.routeRequests?.stop();
    await step('babeld', () => this.p.babel?.stop());
    this.lateness.stop();
    await step('tunnels', () => this.p.manager?.stop());
    await step('detour routes', () => this.p.detours?.stop());
    await step('children', () => this.p.supervisor?.stopAll());
    await step('peer protocol', () => this.p.peerproto?.stop());
    await step('upnp', () => this.p.upnp?.stop());
    await step('traffic counters', async () => {
      await this.destTrafficStarting;
      await this.p.destTraffic?.stop();
    });
    const held = this.p.network?.held;
    if (this.setupDone && this.p.identity && held) {
      const spec = { prefix: this.p.identity.cert.prefix, networkPrefix: held.config.network_prefix };
      const ifaces = (this.p.manager?.list() ?? []).map((t) => t.ifName);
      await step('network teardown', async () => {
        const failures = await applyCommands([...ifaces.flatMap(planTunnelTeardown), ...planNodeTeardown(spec)], { bestEffort: true });
        for (const f of failures) this.log.warn({ argv: f.argv, stderr: f.stderr.trim() }, 'teardown command failed');
      });
    }
    this.p.registry?.close();
    this.health.stop();
    await step('peer db', () => this.p.peerDb?.close());
    await step('events store', () => this.eventStore.close());
    await step('control', () => this.p.control?.stop());
    this.log.info('stopped');
  }

  // ---- control API --------------------------------------------------------------

  status(): StatusResponse {
    return statusView(this.p, { startedAtMs: this.startedAtMs, nowMs: this.clock.nowMs(), health: this.health });
  }

  peers(req: PeersRequest): PeersResponse {
    return peersView(this.p, req, this.clock.nowMs());
  }

  tunnels(): TunnelsResponse {
    return tunnelsView(this.p, this.clock.nowMs());
  }

  events(req: EventsRequest): EventsResponse {
    return eventsView(this.eventLog, req);
  }
}
