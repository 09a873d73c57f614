// The node daemon's coordinator: starts the parts in dependency order, routes
// events between them, answers the control API, and stops everything in the
// order that leaves nothing behind. Decisions live in the parts (planner,
// peer DB, reload plan, registry sync); this file only wires them.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { ResilnetError } from '../config/errors.js';
import { nodeAddress, parsePrefix } from '../config/ipv6.js';
import { loadNodeConfig, type NodeConfig } from '../config/node-config.js';
import type { SignedNetworkConfig } from '../config/network-config.js';
import { parseCrl, signBytes, verifyCertificate, type CertInfo } from '../pki/identity.js';
import { RegistryClient } from '../wire/registry-client.js';
import type { BootstrapPeer } from '../wire/registry-api.js';
import { AddressAnnouncer } from './addresses/announcer.js';
import { BabelLink } from './babel-link.js';
import type { ControlBackend } from './control/commands/handler.js';
import type {
  EventsRequest,
  EventsResponse,
  PeersRequest,
  PeersResponse,
  ReloadReport,
  StatusResponse,
  TunnelsResponse,
} from './control/protocol.js';
import { ControlServer } from './control/server.js';
import { EventLog } from './events.js';
import { every } from './every.js';
import { Gossip } from './gossip.js';
import { HealthRegistry } from './health/health.js';
import { babelRouterId, linkLocalFor, tunnelIfName } from './identity.js';
import { effectiveHelloSec, isNewerConfig, pickNetworkConfig, readSignedConfigFile, type HeldNetworkConfig } from './netconfig.js';
import { buildOpenvpnArgv, DEFAULT_TUN_MTU } from './openvpn/argv.js';
import { writeUpScript } from './openvpn/up-script.js';
import { makePeerCertVerifier } from './peerproto/cert.js';
import { PeerProtocol } from './peerproto/protocol.js';
import { PeerDb } from './peers/peer-db.js';
import { PeerHealth } from './peers/peer-health.js';
import { nextRetryAtMs, peerPolicyFromConfig } from './peers/retry-policy.js';
import { RegistrySync, DEFAULT_RENEW_WINDOW_MS } from './registry-sync.js';
import { applyReloadPlan, diffConfig, type ReloadTargets } from './reload.js';
import { cleanStaleChildren, Supervisor, type SupervisorEvent } from './supervisor/index.js';
import type { Clock } from './sys/clock.js';
import { applyCommands, planNodeSetup, planNodeTeardown, planTunnelTeardown } from './sys/interfaces.js';
import { readNetDev } from './sys/netdev.js';
import { DestinationTrafficMeter } from './sys/dest-traffic.js';
import { destinationTrafficMap, destinationViews, routeCarriers } from './tunnels/dest-rates.js';
import type { Spawner } from './sys/spawner.js';
import { DEFAULT_TUNNEL_POLICY, type TunnelPolicy } from './tunnels/plan.js';
import { TunnelManager, parseHostPort, type TunnelEnd } from './tunnels/manager.js';
import { LinkMonitor } from './tunnels/link-monitor.js';
import { DetourRoutes } from './tunnels/detour-routes.js';
import { UpnpMappings, nodePortSpecs } from './upnp/mapper.js';

export interface NodeComponents {
  clock: Clock;
  spawner: Spawner;
  log: Logger;
  rand?: () => number;
}

interface Identity {
  caPem: string;
  certPem: string;
  keyPem: string;
  cert: CertInfo;
}

/** Timings of the parts, in one place (not user settings). */
const TIMING = {
  trafficSampleMs: 5_000,
  planBusyMs: 5_000,
  planIdleMs: 30_000,
  gossipMs: 30_000,
  peerRequestTimeoutMs: 2_000,
  registryCallTimeoutMs: 10_000,
  registryRetryMaxMs: 30_000,
  connectTimeoutMs: 30_000,
  lostTimeoutMs: 60_000,
  drainTimeoutMs: 20_000,
  upnpStartDelayMs: 3_000,
} as const;

/** The initial CRL is parsed this long after start (see applyRevocations). */
const CRL_PARSE_DELAY_MS = 10_000;

export class Node implements ControlBackend {
  private config: NodeConfig;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly rand: () => number;
  private readonly eventLog: EventLog;
  private readonly health: HealthRegistry;
  private readonly stopController = new AbortController();
  private identity: Identity | undefined;
  private held: HeldNetworkConfig | undefined;
  private revoked = new Set<string>();
  private peerDb: PeerDb | undefined;
  private peerHealth: PeerHealth | undefined;
  private supervisor: Supervisor | undefined;
  private babel: BabelLink | undefined;
  private peerproto: PeerProtocol | undefined;
  private manager: TunnelManager | undefined;
  private gossip: Gossip | undefined;
  private addresses: AddressAnnouncer | undefined;
  private links: LinkMonitor | undefined;
  private detours: DetourRoutes | undefined;
  private registry: RegistryClient | undefined;
  private registrySync: RegistrySync | undefined;
  private upnp: UpnpMappings | undefined;
  /** Per-destination traffic (nftables); undefined when nft is unavailable. */
  private destTraffic: DestinationTrafficMeter | undefined;
  private destTrafficStarting: Promise<void> | undefined;
  private control: ControlServer | undefined;
  private setupDone = false;
  private startedAtMs = 0;
  private stopping: Promise<void> | undefined;
  private readonly background: Array<() => Promise<void>> = [];
  private planPeriodic: ReturnType<typeof every> | undefined;
  /** Component loggers: pino children keep their own level, so a reload sets each. */
  private readonly logs = new Map<string, Logger>();
  private readonly logLevelOverride: string | undefined;

  constructor(config: NodeConfig, components: NodeComponents, options: { logLevelOverride?: string | undefined } = {}) {
    this.config = config;
    this.log = components.log;
    this.clock = components.clock;
    this.rand = components.rand ?? Math.random;
    this.logLevelOverride = options.logLevelOverride;
    this.spawner = components.spawner;
    const eventLog = this.componentLog('events');
    this.eventLog = new EventLog({ clock: this.clock, log: (l) => eventLog.info({ kind: l.kind, peer: l.peer }, l.text) });
    this.health = new HealthRegistry({ clock: this.clock, log: this.componentLog('health') });
  }

  private readonly spawner: Spawner;

  private componentLog(component: string): Logger {
    let child = this.logs.get(component);
    if (!child) {
      child = this.log.child({ component });
      this.logs.set(component, child);
    }
    return child;
  }

  get prefix(): string | undefined {
    return this.identity?.cert.prefix;
  }

  // ---- start ---------------------------------------------------------------

  async start(): Promise<void> {
    const signal = this.stopController.signal;
    this.startedAtMs = this.clock.nowMs();
    const config = this.config;
    const identity = this.loadIdentity(config);
    this.identity = identity;
    const prefix = identity.cert.prefix;
    this.log.info({ peer: prefix, serial: identity.cert.serial }, 'starting');
    for (const dir of [config.node.state_dir, config.node.run_dir, dirname(config.control.socket)]) mkdirSync(dir, { recursive: true, mode: 0o700 });
    // First, so that a second daemon on the same run dir stops here (before it could
    // touch the first one's children) and `resilnet status` can say "still starting".
    this.control = new ControlServer({ socketPath: config.control.socket }, { backend: this, log: this.componentLog('control') });
    await this.control.start();

    // [peers] in resilnet.toml: quicker first retries than the DB's default (a fresh node should find a working peer fast).
    this.peerDb = new PeerDb(join(config.node.state_dir, 'peers.db'), peerPolicyFromConfig(config.peers));
    this.registry = this.newRegistryClient(config);
    this.held = await this.obtainNetworkConfig(signal);
    this.applyRevocations(this.held, { initial: true });
    const nc = this.held.config;
    this.log.info({ version: nc.version, origin: this.held.origin, networkPrefix: nc.network_prefix }, 'network config loaded');
    // Peers from the registry now, while babeld and the peer protocol start, so the first
    // tunnel requests can go out as soon as we can answer them (RegistrySync asks again later).
    this.prefetchBootstrapPeers(signal);

    // Children an earlier run left behind (after kill -9) go before anything is spawned.
    const stale = await cleanStaleChildren(config.node.run_dir, { clock: this.clock });
    if (stale.stopped.length) this.log.warn({ children: stale.stopped.map((c) => c.name) }, 'stopped children of an earlier run');

    this.setupDone = true;
    await applyCommands(planNodeSetup({ prefix, networkPrefix: nc.network_prefix }));
    // Per-destination traffic is first read seconds from now: its nft set-up does not hold up the start.
    this.destTrafficStarting = this.startDestTraffic(nc.network_prefix);

    this.supervisor = new Supervisor({ spawner: this.spawner, clock: this.clock, runDir: config.node.run_dir });
    this.supervisor.on((ev) => this.onSupervisorEvent(ev));

    const babelLog = this.componentLog('babel');
    this.babel = new BabelLink(
      {
        socketPath: join(config.node.run_dir, 'babeld.sock'),
        stateFile: join(config.node.state_dir, 'babeld.state'),
        helloIntervalSec: this.helloSec(),
        routerId: babelRouterId(prefix),
        ownPrefix: prefix,
        nodeAddress: nodeAddress(parsePrefix(prefix)),
      },
      { clock: this.clock, log: babelLog, supervisor: this.supervisor },
    );
    // Not waited for here: statements to babeld queue behind its first one, and the peer
    // protocol and tunnel manager can start meanwhile. start() fails below if babeld does.
    const babelStarted = this.babel.start();
    const babel = this.babel;
    this.detours = new DetourRoutes({
      clock: this.clock,
      log: this.componentLog('tunnels'),
      babel: { routes: () => babel.routes(), recentlyDropped: () => babel.recentlyDropped() },
      ownPrefix: prefix,
      nodeAddress: nodeAddress(parsePrefix(prefix)),
    });
    // Detours a killed daemon left behind; queued before any new one, not waited for.
    this.detours.start().catch((err: unknown) => this.log.warn({ err }, 'cannot remove old detour routes'));

    const upScript = writeUpScript(config.node.run_dir);
    const peerLog = this.componentLog('peerproto');
    const signingKey = createPrivateKey(identity.keyPem);
    this.peerproto = new PeerProtocol({
      clock: this.clock,
      // The key is parsed once: signing with the PEM text parses it again for every message (link hellos are several a second per tunnel).
      self: { prefix, certDer: Buffer.from(new X509Certificate(identity.certPem).raw), sign: (data) => signBytes(signingKey, data) },
      verifyPeerCert: makePeerCertVerifier({ caPem: identity.caPem, clock: this.clock, revokedSerials: () => this.revoked }),
      log: peerLog,
      configVersion: () => this.held?.config.version,
    });
    await this.peerproto.start({ port: config.underlay.port });
    const peerproto = this.peerproto;
    this.peerHealth = new PeerHealth(
      {
        clock: this.clock,
        log: this.componentLog('peers'),
        events: this.eventLog,
        health: this.health,
        peers: this.peerDb,
        hello: (to, o) => peerproto.hello(to, o),
        orderAddresses: (a) => this.addresses?.dialOrder(a) ?? [...a],
        isAdjacent: (p) => this.manager?.isAdjacent(p) ?? false,
        lastRegistryContactMs: () => this.registrySync?.status().lastContactMs ?? null,
      },
      { probeIntervalMs: PeerHealth.probeIntervalFor(peerPolicyFromConfig(config.peers)) },
    );
    this.peerHealth.listenTo(peerproto);
    this.peerHealth.start();

    this.manager = new TunnelManager(this.tunnelOptions(config), {
      clock: this.clock,
      log: this.componentLog('tunnels'),
      events: this.eventLog,
      supervisor: this.supervisor,
      peerproto: this.peerproto,
      peers: this.peerHealth,
      babel: this.babel,
      openvpnArgv: (end) => this.openvpnArgv(end, upScript),
      ifNameFor: tunnelIfName,
      planContext: () => this.planContext(),
      orderAddresses: (a) => this.addresses?.dialOrder(a) ?? [...a],
      rand: this.rand,
      detours: this.detours,
      onPeerDown: (peer, reason) => this.links?.peerSaysDown(peer, reason),
      replanSoon: () => this.planPeriodic?.trigger(),
    });
    this.manager.start();

    this.gossip = new Gossip(
      {
        ownPrefix: prefix,
        networkPrefix: nc.network_prefix,
        defaultPort: config.underlay.port,
        intervalMs: TIMING.gossipMs,
        requestTimeoutMs: TIMING.peerRequestTimeoutMs,
        peerListCount: 32,
      },
      {
        clock: this.clock,
        log: peerLog,
        peerproto: this.peerproto,
        peers: this.peerDb,
        adjacentPeers: () => this.manager?.list().filter((t) => t.state === 'up').map((t) => t.peer) ?? [],
        config: () => ({ version: this.held!.config.version, signed: this.held!.signed }),
        onNetworkConfig: (signed, from) => this.offerNetworkConfig(signed, `peer ${from}`),
        rand: this.rand,
      },
    );
    this.gossip.start();

    const manager = this.manager;
    this.links = new LinkMonitor({
      clock: this.clock,
      log: this.componentLog('links'),
      events: this.eventLog,
      peerproto: this.peerproto,
      tunnels: () => manager.list(),
      babel: this.babel,
      manager,
      detours: this.detours,
      supervisor: this.supervisor,
      settings: () => ({ helloIntervalSec: this.config.tunnels.link_hello_interval, misses: this.config.tunnels.link_hello_misses }),
      defaultPeerPort: (peer) => parseHostPort(this.peerDb?.getPeer(peer)?.addresses[0] ?? '')?.port ?? this.config.underlay.port,
    });
    this.links.start();
    this.addresses = new AddressAnnouncer(
      { ownPrefix: prefix, networkPrefix: nc.network_prefix, checkIntervalMs: 5_000, reannounceIntervalMs: 300_000 },
      {
        clock: this.clock,
        log: this.componentLog('addresses'),
        peerproto: this.peerproto,
        peers: this.peerDb,
        readInterfaces: () => networkInterfaces(),
        settings: () => ({ port: this.config.underlay.port, configured: this.config.underlay.addresses }),
        adjacent: () => manager.list().filter((t) => t.state === 'up').map((t) => ({ peer: t.peer, ifName: t.ifName })),
        peerPort: (peer) => this.links!.peerPort(peer),
        onChange: () => this.registrySync?.trigger(),
      },
    );
    this.addresses.start();

    this.startPeriodicWork(signal);
    this.startRegistrySync(config);
    if (config.upnp.enabled) {
      // UPnP discovery and its client library (a few hundred ms of CPU) wait until the start-up
      // burst (tunnel requests, openvpn handshakes) is over: a mapping only matters to peers
      // that come to us later, and our own tunnels to others do not need it.
      this.clock.setTimeout(() => {
        if (this.stopController.signal.aborted || this.upnp || !this.config.upnp.enabled) return;
        this.startUpnp(this.config).catch((err: unknown) => this.log.warn({ err }, 'UPnP start failed'));
      }, TIMING.upnpStartDelayMs);
    }

    await babelStarted;
    this.eventLog.add('daemon', `node ${prefix} started (network config version ${nc.version}, hello ${this.helloSec()} s)`);
  }

  private loadIdentity(config: NodeConfig): Identity {
    const read = (path: string, what: string): string => {
      try {
        return readFileSync(path, 'utf8');
      } catch (err) {
        throw new ResilnetError('RN_DAEMON_IDENTITY', `cannot read the ${what} ${path} (${(err as NodeJS.ErrnoException).code}). Run resilnet register first, or fix identity.* in ${config.path}.`, { cause: err });
      }
    };
    const caPem = read(config.identity.ca, 'CA certificate');
    const certPem = read(config.identity.cert, 'node certificate');
    const keyPem = read(config.identity.key, 'node key');
    const cert = verifyCertificate(certPem, caPem, { nowMs: this.clock.nowMs() });
    return { caPem, certPem, keyPem, cert };
  }

  private newRegistryClient(config: NodeConfig): RegistryClient {
    const id = this.identity!;
    return new RegistryClient({ url: config.registry.url, caPem: id.caPem, certPem: id.certPem, keyPem: id.keyPem, timeoutMs: TIMING.registryCallTimeoutMs });
  }

  /** Peer DB cache, then the file `register` wrote, then the registry (with backoff until it answers). */
  private async obtainNetworkConfig(signal: AbortSignal): Promise<HeldNetworkConfig> {
    const caPem = this.identity!.caPem;
    const candidates: Parameters<typeof pickNetworkConfig>[0] = [];
    const cached = this.peerDb!.getNetworkConfig();
    if (cached) candidates.push({ signed: cached.signed, origin: 'peer-db' });
    const filePath = join(dirname(this.config.path), 'network-config.json');
    try {
      const fromFile = readSignedConfigFile(filePath);
      if (fromFile) candidates.push({ signed: fromFile, origin: 'file' });
    } catch (err) {
      this.log.warn({ err }, 'network config file unreadable; ignored');
    }
    let { best, refused } = pickNetworkConfig(candidates, caPem);
    for (const r of refused) this.refusedConfig(r.origin, r.code, r.message);
    for (let attempt = 0; !best; attempt++) {
      try {
        const signed = await this.registry!.networkConfig({ signal });
        ({ best, refused } = pickNetworkConfig([{ signed, origin: 'registry' }], caPem));
        for (const r of refused) this.refusedConfig(r.origin, r.code, r.message);
      } catch (err) {
        if (signal.aborted) throw err;
        this.log.warn({ err, attempt }, 'no network config yet; retrying the registry');
      }
      if (!best) await this.clock.sleep(Math.min(TIMING.registryRetryMaxMs, 1000 * 2 ** Math.min(attempt, 5)), { signal });
    }
    this.peerDb!.setNetworkConfig(best.signed, best.config.version, this.clock.nowMs());
    return best;
  }

  private refusedConfig(origin: string, code: string, message: string): void {
    this.log.error({ origin, code }, `network config refused: ${message}`);
    this.eventLog.add('network-config', `network config from ${origin} refused (${code})`);
  }

  // ---- network config and revocation ------------------------------------

  /** A config from the registry or a peer: adopted when it verifies and is newer. */
  private async offerNetworkConfig(signed: SignedNetworkConfig, origin: HeldNetworkConfig['origin']): Promise<void> {
    if (!this.identity || !this.held) return;
    const { best, refused } = pickNetworkConfig([{ signed, origin }], this.identity.caPem);
    for (const r of refused) this.refusedConfig(r.origin, r.code, r.message);
    if (!best || !isNewerConfig(this.held.config, best.config)) return;
    const before = this.held;
    this.held = best;
    this.peerDb?.setNetworkConfig(best.signed, best.config.version, this.clock.nowMs());
    this.eventLog.add('network-config', `network config version ${best.config.version} adopted (from ${origin}; was ${before.config.version})`);
    await this.applyRevocations(best, { initial: false });
    if (this.config.babel.hello_interval === undefined && before.config.babel.hello_interval !== best.config.babel.hello_interval) {
      await this.babel?.setHelloInterval(this.helloSec(), this.manager?.list().map((t) => t.ifName) ?? []);
    }
    this.manager?.reconfigure(this.tunnelOptions(this.config));
    void this.gossip?.spreadConfig(origin.startsWith('peer ') ? origin.slice(5) : undefined);
  }

  /** Writes the CRL openvpn reads and tears down tunnels to revoked serials. */
  private async applyRevocations(held: HeldNetworkConfig, options: { initial: boolean }): Promise<void> {
    const caPem = this.identity!.caPem;
    const serials = new Set(held.config.revoked_serials);
    if (held.config.crl) {
      // At start the signed revoked_serials list is enough; the CRL (whose parser is slow to
      // load) is read a few seconds later, when the daemon is no longer competing for CPU.
      if (options.initial) {
        this.clock.setTimeout(() => {
          if (this.held === held && !this.stopController.signal.aborted) void this.applyRevocations(held, { initial: false });
        }, CRL_PARSE_DELAY_MS);
      } else {
        try {
          for (const s of parseCrl(held.config.crl, caPem).serials) serials.add(s);
        } catch (err) {
          this.log.warn({ err }, 'CRL in the network config unreadable; using its revoked_serials list');
        }
      }
      const crlPath = join(this.config.node.run_dir, 'crl.pem');
      writeFileSync(`${crlPath}.tmp`, held.config.crl, { mode: 0o644 });
      renameSync(`${crlPath}.tmp`, crlPath);
    }
    const added = [...serials].filter((s) => !this.revoked.has(s));
    this.revoked = serials;
    if (options.initial || added.length === 0) return;
    this.eventLog.add('revocation', `new CRL: ${added.length} more revoked serial(s): ${added.join(', ')}`);
    const dropped = this.peerproto?.revalidateCerts() ?? [];
    const nowMs = this.clock.nowMs();
    for (const p of dropped) this.peerDb?.markDead(p, 'certificate revoked', nowMs);
    await this.manager?.closeRevoked(serials);
    // Dead peers with a revoked serial that had no tunnel.
    for (const p of this.peerDb?.listPeers({ dead: false }) ?? []) {
      if (p.certSerial && serials.has(p.certSerial)) this.peerDb?.markDead(p.prefix, `certificate ${p.certSerial} revoked`, nowMs);
    }
  }

  // ---- parts' settings ------------------------------------------------------

  private helloSec(): number {
    return effectiveHelloSec(this.held!.config, this.config.babel.hello_interval);
  }

  private clientCount(): number {
    return this.config.tunnels.client_count ?? this.held!.config.client_count;
  }

  private tunnelOptions(config: NodeConfig) {
    return {
      ownPrefix: this.identity!.cert.prefix,
      underlayPort: config.underlay.port,
      maxClients: config.tunnels.max_clients ?? this.held!.config.max_clients,
      connectTimeoutMs: TIMING.connectTimeoutMs,
      lostTimeoutMs: TIMING.lostTimeoutMs,
      requestTimeoutMs: TIMING.peerRequestTimeoutMs,
      requestAttempts: 2,
      drainTimeoutMs: Math.max(TIMING.drainTimeoutMs, this.helloSec() * 8_000),
      // The peer acks once its routes left a drained tunnel (followPeerDrain waits up to 10 s for them).
      drainAckTimeoutMs: Math.max(TIMING.drainTimeoutMs, this.helloSec() * 8_000) * 0.75,
      // Our babel hears the peer's raised cost in its next IHU: about two hellos.
      drainSettleMs: Math.max(1_000, this.helloSec() * 2_000),
      // The peer's refusal comes over the underlay within milliseconds; this allows for a busy peer.
      drainObjectionMs: 500,
    };
  }

  private policy(): TunnelPolicy {
    const refreshSec = this.config.tunnels.refresh ?? this.held!.config.tunnel_refresh;
    return {
      ...DEFAULT_TUNNEL_POLICY,
      refreshIntervalMs: refreshSec * 1000,
      minTunnelAgeMs: this.config.tunnels.min_age * 1000,
      openTimeoutMs: TIMING.connectTimeoutMs * 2,
    };
  }

  private planContext() {
    return {
      peers: this.peerDb!.listPeers(),
      reachable: this.babel!.reachablePrefixes(),
      neighbours: [...this.config.tunnels.neighbours],
      clientCount: this.clientCount(),
      policy: this.policy(),
      ...(this.destTraffic ? { destinationTraffic: destinationTrafficMap(this.destTraffic.rates()), destinationVia: this.destinationVia() } : {}),
    };
  }

  /** Our traffic per destination, from an nftables table the daemon owns; without nft the daemon runs on. */
  private async startDestTraffic(networkPrefix: string): Promise<void> {
    const meter = new DestinationTrafficMeter({ networkPrefix }, { clock: this.clock, log: this.componentLog('tunnels') });
    try {
      await meter.start();
      this.destTraffic = meter;
    } catch (err) {
      const e = err as ResilnetError;
      this.health.raise({ code: e.code ?? 'RN_SYS_NFT_FAILED', title: 'per-destination traffic is not measured', severity: 'warning', text: e.message });
    }
  }

  private destinationVia(): Map<string, string> {
    return routeCarriers(this.babel?.tableView.routes ?? new Map(), this.manager?.list() ?? []);
  }

  private openvpnArgv(end: TunnelEnd, upScript: string): string[] {
    const config = this.config;
    return buildOpenvpnArgv({
      endpoint:
        end.role === 'server'
          ? { role: 'server', listenPort: end.localPort! }
          : { role: 'client', remoteHost: end.remote!.host, remotePort: end.remote!.port },
      proto: 'udp',
      ifName: end.ifName,
      peerPrefix: end.peer,
      caPath: config.identity.ca,
      certPath: config.identity.cert,
      keyPath: config.identity.key,
      crlPath: join(config.node.run_dir, 'crl.pem'),
      dataCiphers: this.held!.config.cipher.split(':').filter(Boolean),
      tunMtu: DEFAULT_TUN_MTU,
      upScriptPath: upScript,
      linkLocal: linkLocalFor(this.identity!.cert.prefix),
      keepaliveIntervalSec: 1,
      keepaliveTimeoutSec: 5,
      managementSocket: join(config.node.run_dir, `${end.ifName}.mgmt`),
      verbosity: 3,
    });
  }

  // ---- periodic work --------------------------------------------------------

  private startPeriodicWork(signal: AbortSignal): void {
    const log = this.log;
    const sampler = every(
      TIMING.trafficSampleMs,
      'traffic-sample',
      async () => {
        this.manager?.sampleTraffic(await readNetDev(), this.clock.nowMs());
        await this.destTraffic?.sample(this.peerDb!.listPeers().map((p) => p.prefix));
      },
      { clock: this.clock, log, signal, timeoutMs: 2_000, firstDelayMs: 1_000 },
    );
    this.planPeriodic = every(
      TIMING.planBusyMs,
      'tunnel-plan',
      async (s) => {
        await this.manager!.planRound(s);
        const busy = this.manager!.belowTarget(this.clientCount()) || this.manager!.list().some((t) => t.state !== 'up');
        this.planPeriodic?.setIntervalMs(busy ? TIMING.planBusyMs : TIMING.planIdleMs);
      },
      { clock: this.clock, log, signal, timeoutMs: 60_000, firstDelayMs: 0 },
    );
    this.background.push(() => sampler.idle(), () => this.planPeriodic!.idle());
  }

  private startRegistrySync(config: NodeConfig): void {
    this.registrySync = new RegistrySync(
      {
        heartbeatIntervalMs: config.registry.heartbeat_interval * 1000,
        minLivePeers: Math.max(2, this.clientCount()),
        bootstrapCount: 16,
        renewWindowMs: DEFAULT_RENEW_WINDOW_MS,
        callTimeoutMs: TIMING.registryCallTimeoutMs,
      },
      {
        clock: this.clock,
        log: this.componentLog('registry'),
        health: this.health,
        api: () => this.registry!,
        heartbeatBody: () => this.heartbeatBody(),
        livePeerCount: () => this.peerDb!.listPeers({ dead: false }).length,
        configVersion: () => this.held!.config.version,
        certificateNotAfterMs: () => this.identity!.cert.notAfterMs,
        // Loaded when needed: the CSR library is a large share of the daemon's start-up time.
        createCsr: async () => (await import('../pki/keys.js')).createCsrPem(this.identity!.keyPem, this.identity!.cert.prefix),
        onSeenAddress: (ip) => this.addresses?.setSeenAddress(ip),
        onBootstrapPeers: (peers) => this.addBootstrapPeers(peers),
        onNetworkConfig: (signed) => this.offerNetworkConfig(signed, 'registry'),
        onCrl: () => undefined, // the CRL rides in the signed network config
        onRenewed: (certPem) => this.adoptRenewedCertificate(certPem),
      },
    );
    this.registrySync.start();
  }

  private addBootstrapPeers(peers: readonly BootstrapPeer[]): void {
    const nowMs = this.clock.nowMs();
    for (const p of peers) {
      if (p.prefix === this.identity!.cert.prefix) continue;
      const r = this.peerDb!.upsertPeer({ prefix: p.prefix, addresses: p.addresses, source: 'registry' }, nowMs);
      if (r.created) this.eventLog.add('peer-learned', `peer ${p.prefix} learned from the registry (${p.addresses.join(', ')})`, p.prefix);
    }
    this.peerHealth?.registrySaw(peers, nowMs);
    this.planPeriodic?.trigger();
  }

  /** One bootstrap call at start, when the peer DB knows too few live peers; failures are left to RegistrySync. */
  private prefetchBootstrapPeers(signal: AbortSignal): void {
    if (this.peerDb!.listPeers({ dead: false }).length >= Math.max(2, this.clientCount())) return;
    this.registry!.bootstrap(16, { signal })
      .then(({ peers }) => {
        if (!signal.aborted) this.addBootstrapPeers(peers);
      })
      .catch((err: unknown) => this.log.debug({ err }, 'early bootstrap failed; the registry sync retries'));
  }

  private adoptRenewedCertificate(certPem: string): void {
    const id = this.identity!;
    const cert = verifyCertificate(certPem, id.caPem, { nowMs: this.clock.nowMs() });
    if (cert.prefix !== id.cert.prefix) {
      throw new ResilnetError('RN_PKI_CERT_INVALID', `renewed certificate is for ${cert.prefix}, not ${id.cert.prefix}; kept the old one`);
    }
    const path = this.config.identity.cert;
    writeFileSync(`${path}.tmp`, certPem, { mode: 0o644 });
    renameSync(`${path}.tmp`, path);
    this.identity = { ...id, certPem, cert };
    this.registry = this.newRegistryClient(this.config);
    this.eventLog.add('daemon', `certificate renewed: serial ${cert.serial}, valid until ${new Date(cert.notAfterMs).toISOString()}`);
  }

  private heartbeatBody() {
    const config = this.config;
    const addresses = this.addresses?.heartbeatAddresses() ?? config.underlay.addresses.map((a) => ({ address: a, kind: 'configured' as const }));
    return {
      port: config.underlay.port,
      addresses,
      tunnels: (this.manager?.list() ?? []).map((t) => ({
        peer: t.peer,
        role: t.direction === 'outgoing' ? ('client' as const) : ('server' as const),
        iface: t.ifName,
        rx_bytes: Math.round(t.rx?.last.rxBytes ?? 0),
        tx_bytes: Math.round(t.tx?.last.txBytes ?? 0),
        rtt_ms: this.peerDb?.getPeer(t.peer)?.rttMs ?? null,
      })),
      network_config_version: this.held?.config.version ?? 0,
      protocol_version: 1,
    };
  }

  private upnpStarting: Promise<void> | undefined;

  /** Starts the UPnP mappings once (a reload and the delayed start may both ask). */
  private startUpnp(config: NodeConfig): Promise<void> {
    this.upnpStarting ??= this.doStartUpnp(config).finally(() => {
      this.upnpStarting = undefined;
    });
    return this.upnpStarting;
  }

  private async doStartUpnp(config: NodeConfig): Promise<void> {
    if (this.upnp) return;
    const log = this.componentLog('upnp');
    // The UPnP client library is loaded only on nodes that use it (start-up time).
    const { UpnpIgd } = await import('./upnp/upnp-igd.js');
    if (this.stopController.signal.aborted) return;
    this.upnp = new UpnpMappings({
      mapper: new UpnpIgd({ clock: this.clock, log }),
      clock: this.clock,
      health: this.health,
      log,
      onExternalAddress: (a) => this.addresses?.setUpnp(a),
    });
    await this.upnp.start({ ports: nodePortSpecs(config.underlay.port, this.tunnelOptions(config).maxClients), leaseSec: config.upnp.lease });
  }

  private onSupervisorEvent(ev: SupervisorEvent): void {
    const log = this.componentLog('supervisor');
    if (ev.kind === 'child-started') {
      log.info({ child: ev.name, pid: ev.pid, restarts: ev.restarts }, 'child started');
    } else if (ev.kind === 'child-exited') {
      const how = ev.spawnError ?? (ev.signal ? `killed by ${ev.signal}` : `exited with code ${ev.code}`);
      if (ev.restartInMs === null) {
        log.info({ child: ev.name, pid: ev.pid }, 'child stopped');
      } else {
        log.warn({ child: ev.name, pid: ev.pid, code: ev.code, signal: ev.signal, restartInMs: ev.restartInMs }, 'child exited');
        this.eventLog.add('child', `${ev.name} ${how}; restarting in ${(ev.restartInMs / 1000).toFixed(1)} s`);
      }
    } else {
      this.health.raise({
        code: 'RN_CHILD_CRASH_LOOP',
        title: `${ev.name} keeps crashing`,
        severity: 'error',
        text: `${ev.name} failed ${ev.failures} times in a row; the daemon keeps restarting it with backoff. See the daemon log (journalctl -u resilnet) for its output.`,
      });
    }
  }

  // ---- reload ---------------------------------------------------------------

  async reload(): Promise<ReloadReport> {
    const next = loadNodeConfig(this.config.path);
    const plan = diffConfig(this.config, next);
    const targets: ReloadTargets = {
      log: (c) => {
        const level = this.logLevelOverride ?? c.node.log_level;
        this.log.level = level;
        for (const child of this.logs.values()) child.level = level;
      },
      babel: async (c) => {
        const hello = effectiveHelloSec(this.held!.config, c.babel.hello_interval);
        await this.babel!.setHelloInterval(hello, this.manager?.list().map((t) => t.ifName) ?? []);
      },
      tunnels: () => undefined, // read through this.config at each plan round
      registry: (c) => {
        this.registry = new RegistryClient({ url: c.registry.url, caPem: this.identity!.caPem, certPem: this.identity!.certPem, keyPem: this.identity!.keyPem, timeoutMs: TIMING.registryCallTimeoutMs });
        this.registrySync?.reconfigure({ heartbeatIntervalMs: c.registry.heartbeat_interval * 1000 });
      },
      underlay: () => undefined, // read at each heartbeat
      upnp: async (c) => {
        if (!c.upnp.enabled) {
          await this.upnp?.stop();
          this.upnp = undefined;
        } else if (this.upnp) {
          await this.upnp.reconfigure({ ports: nodePortSpecs(c.underlay.port, this.tunnelOptions(c).maxClients), leaseSec: c.upnp.lease });
        } else {
          await this.startUpnp(c);
        }
      },
    };
    // Live values are read from this.config by the parts, so swap before applying.
    const old = this.config;
    this.config = next;
    let report: ReloadReport;
    try {
      report = await applyReloadPlan(plan, next, targets, { signal: this.stopController.signal });
    } catch (err) {
      this.config = old;
      throw err;
    }
    this.manager?.reconfigure(this.tunnelOptions(next));
    this.planPeriodic?.trigger();
    const summary = report.applied.length || report.skipped.length || report.failed.length
      ? `reload: applied ${report.applied.map((i) => i.key).join(', ') || 'nothing'}${report.skipped.length ? `; needs restart: ${report.skipped.map((i) => i.key).join(', ')}` : ''}${report.failed.length ? `; failed: ${report.failed.map((f) => f.key).join(', ')}` : ''}`
      : 'reload: nothing changed';
    this.eventLog.add('reload', summary);
    this.log.info({ applied: report.applied.map((i) => i.key), skipped: report.skipped.map((i) => i.key), failed: report.failed }, 'reloaded');
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
    await step('registry', () => this.registrySync?.stop());
    await step('gossip', () => this.gossip?.stop());
    await step('links', () => this.links?.stop());
    await step('peer health', () => this.peerHealth?.stop());
    await step('addresses', () => this.addresses?.stop());
    for (const idle of this.background) await step('periodic', idle);
    await step('babeld', () => this.babel?.stop());
    await step('tunnels', () => this.manager?.stop());
    await step('detour routes', () => this.detours?.stop());
    await step('children', () => this.supervisor?.stopAll());
    await step('peer protocol', () => this.peerproto?.stop());
    await step('upnp', () => this.upnp?.stop());
    await step('traffic counters', async () => {
      await this.destTrafficStarting;
      await this.destTraffic?.stop();
    });
    if (this.setupDone && this.identity && this.held) {
      const spec = { prefix: this.identity.cert.prefix, networkPrefix: this.held.config.network_prefix };
      const ifaces = (this.manager?.list() ?? []).map((t) => t.ifName);
      await step('network teardown', async () => {
        const failures = await applyCommands([...ifaces.flatMap(planTunnelTeardown), ...planNodeTeardown(spec)], { bestEffort: true });
        for (const f of failures) this.log.warn({ argv: f.argv, stderr: f.stderr.trim() }, 'teardown command failed');
      });
    }
    this.registry?.close();
    this.health.stop();
    await step('peer db', () => this.peerDb?.close());
    await step('control', () => this.control?.stop());
    this.log.info('stopped');
  }

  // ---- control API --------------------------------------------------------------

  status(): StatusResponse {
    const id = this.identity;
    const held = this.held;
    if (!id || !held || !this.peerDb) throw new ResilnetError('RN_DAEMON_NOT_READY', 'the daemon is still starting. Try again in a moment.');
    const nowMs = this.clock.nowMs();
    const peers = this.peerDb.listPeers();
    const tunnels = this.manager?.list() ?? [];
    const stats = this.peerproto?.stats();
    const reg = this.registrySync?.status();
    return {
      prefix: id.cert.prefix,
      address: nodeAddress(parsePrefix(id.cert.prefix)),
      networkPrefix: held.config.network_prefix,
      pid: process.pid,
      startedAtMs: this.startedAtMs,
      uptimeSec: Math.round((nowMs - this.startedAtMs) / 1000),
      certificate: { serial: id.cert.serial, notAfterMs: id.cert.notAfterMs },
      networkConfig: {
        version: held.config.version,
        helloIntervalSec: this.helloSec(),
        clientCount: this.clientCount(),
        maxClients: this.tunnelOptions(this.config).maxClients,
        tunnelRefreshSec: this.policy().refreshIntervalMs / 1000,
        source: held.origin,
      },
      peers: { total: peers.length, live: peers.filter((p) => !p.dead).length, dead: peers.filter((p) => p.dead).length },
      tunnels: {
        outgoing: tunnels.filter((t) => t.direction === 'outgoing' && t.state !== 'connecting').length,
        incoming: tunnels.filter((t) => t.direction === 'incoming' && t.state !== 'connecting').length,
        connecting: tunnels.filter((t) => t.state === 'connecting').length,
      },
      babeld: this.babel?.status() ?? { running: false, pid: null, routes: 0, neighbours: 0 },
      registry: { url: this.config.registry.url, lastContactMs: reg?.lastContactMs ?? null, lastError: reg?.lastError ?? null },
      peerProtocol: {
        port: this.config.underlay.port,
        received: stats?.received ?? 0,
        sent: stats?.sent ?? 0,
        dropped: stats ? Object.values(stats.dropped).reduce((a, b) => a + b, 0) : 0,
      },
      underlay: this.addresses?.status() ?? { addresses: [], upnp: null, seenAddress: null },
      links: (this.links?.views() ?? []).map((l) => ({ peer: l.peer, interface: l.ifName, state: l.phase, lastHelloMs: l.lastHelloMs, lostSinceMs: l.lostSinceMs })),
      health: this.health.list().map((h) => ({ code: h.code, title: h.title, severity: h.severity, text: h.text, sinceMs: h.sinceMs })),
    };
  }

  peers(req: PeersRequest): PeersResponse {
    if (!this.peerDb) throw new ResilnetError('RN_DAEMON_NOT_READY', 'the daemon is still starting. Try again in a moment.');
    const list = this.peerDb.listPeers(req.dead ? { dead: true } : {});
    return {
      peers: list.map((p) => ({
        prefix: p.prefix,
        addresses: p.addresses,
        source: p.source,
        firstSeenMs: p.firstSeenMs,
        lastSeenMs: p.lastSeenMs,
        lastSuccessMs: p.lastSuccessMs,
        failures: p.failures,
        dead: p.dead,
        deadReason: p.deadReason,
        deadCause: p.deadCause,
        deadSinceMs: p.deadSinceMs,
        nextRetryMs: nextRetryAtMs(p),
        rttMs: p.rttMs,
        adjacent: this.manager?.get(p.prefix) !== undefined,
      })),
    };
  }

  tunnels(): TunnelsResponse {
    const destinations = this.destTraffic ? destinationViews(this.destTraffic.rates(), this.destinationVia()) : undefined;
    return { tunnels: this.manager?.views(this.clock.nowMs()) ?? [], ...(destinations ? { destinations } : {}) };
  }

  events(req: EventsRequest): EventsResponse {
    return { events: this.eventLog.list(req.limit), dropped: this.eventLog.dropped };
  }
}
