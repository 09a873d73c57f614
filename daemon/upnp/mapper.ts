// Keeps the node's ports mapped on the UPnP gateway while the daemon runs.
//
// Which ports: all of them at start, i.e. the peer-protocol port and the whole
// incoming-tunnel range (underlay.port … underlay.port + max_clients, UDP).
// Mapping each tunnel port only when a tunnel uses it was rejected: a peer
// connects to a port it learned from us before our server end exists, so the
// mapping would have to be made inside the tunnel handshake (one more gateway
// round trip on the critical path, and a failure mode per tunnel), while the
// range is small (max_clients ≤ 256, default 10) and leased anyway.
//
// Each port's renewal is planned by the pure planLeaseRenewal (half-lease,
// backoff on failure); one timer on the injected clock wakes the service for the
// earliest due port. At stop every mapping we made is removed.
import type { Logger } from 'pino';
import type { HealthRegistry } from '../health/health.js';
import type { Cancel, Clock } from '../sys/clock.js';
import { planLeaseRenewal, type LeaseState } from './lease.js';
import { pickExternalPort } from './port-choice.js';
import {
  checkMapArgs,
  isUpnpError,
  UpnpError,
  type GatewayInfo,
  type PortMapper,
  type PortMapping,
  type PortProtocol,
  type UpnpErrorCode,
} from './port-mapper.js';

import type { PortSpec } from './port-specs.js';

export { nodePortSpecs, type PortSpec } from './port-specs.js';

export interface UpnpMappingsOptions {
  /** Ports to map, external = internal unless the gateway has it taken (see port-choice.ts). */
  ports: readonly PortSpec[];
  /** Lease asked for each mapping (config upnp.lease). */
  leaseSec: number;
}

/** What the daemon announces to peers: the gateway's address and the ports mapped there. */
export interface ExternalAddress {
  ip: string;
  mappings: { protocol: PortProtocol; internalPort: number; externalPort: number }[];
}

export interface UpnpTimings {
  /** Each gateway call is aborted after this long. */
  callTimeoutMs: number;
  /** Each unmap at stop is bounded by this, so stop cannot hang on a dead gateway. */
  unmapTimeoutMs: number;
  /** Searching again after a failed discovery: first delay, doubled up to the max. */
  rediscoverMinMs: number;
  rediscoverMaxMs: number;
}

export const DEFAULT_UPNP_TIMINGS: UpnpTimings = {
  callTimeoutMs: 10_000,
  unmapTimeoutMs: 3_000,
  rediscoverMinMs: 30_000,
  rediscoverMaxMs: 10 * 60_000,
};

export interface UpnpMappingsDeps {
  mapper: PortMapper;
  clock: Clock;
  health: Pick<HealthRegistry, 'raise' | 'clear'>;
  log: Pick<Logger, 'debug' | 'info' | 'warn'>;
  /** Called when the external address or the set of mapped ports changes; undefined = none usable. */
  onExternalAddress: (address: ExternalAddress | undefined) => void;
  timings?: UpnpTimings;
}

export type MappingStateName = 'mapped' | 'pending' | 'failing' | 'expired';

export interface UpnpStatus {
  gateway: GatewayInfo | undefined;
  externalIp: string | undefined;
  mappings: {
    port: number;
    protocol: PortProtocol;
    state: MappingStateName;
    leaseSec: number | undefined;
    expiresAtMs: number | undefined;
    failures: number;
    lastErrorCode: string | undefined;
  }[];
}

interface PortState {
  spec: PortSpec;
  lease: LeaseState;
  /** Set once the gateway accepted it; kept (even expired) so stop removes it. */
  mapping: PortMapping | undefined;
  lastErrorCode: string | undefined;
  /** External ports the gateway refused for this one (conflict with another host). */
  refused: Set<number>;
}

/** Conflicts resolved within one round before waiting for the next. */
const CONFLICT_TRIES_PER_ROUND = 4;

const key = (p: PortSpec): string => `${p.protocol}:${p.port}`;

/** Health codes this service raises; each is cleared when its condition ends or at stop. */
const DISCOVERY_ITEMS = ['RN_UPNP_NO_GATEWAY', 'RN_UPNP_GATEWAY_UNSUPPORTED'] as const;
const MAP_ITEM = 'RN_UPNP_MAP_FAILED';

export class UpnpMappings {
  private readonly timings: UpnpTimings;
  private states = new Map<string, PortState>();
  private leaseSec = 0;
  private shutdown: AbortController | undefined;
  private gateway: GatewayInfo | undefined;
  /** Failed discoveries and lost gateways since the last successful call; drives the search backoff. */
  private gatewayTrouble = 0;
  private nextDiscoveryAtMs = 0;
  private externalIp: string | undefined;
  private reportedKey = 'none';
  private running: Promise<void> | undefined;
  private cancelTimer: Cancel | undefined;
  private staleChecked = false;

  constructor(private readonly deps: UpnpMappingsDeps) {
    this.timings = deps.timings ?? DEFAULT_UPNP_TIMINGS;
  }

  /** Maps every port once (the first round is awaited), then keeps them renewed. Never throws for gateway trouble. */
  async start(options: UpnpMappingsOptions): Promise<void> {
    if (this.shutdown && !this.shutdown.signal.aborted) throw new Error('UpnpMappings already started');
    this.applyOptions(options);
    this.shutdown = new AbortController();
    this.deps.log.info({ ports: options.ports.map(key), leaseSec: options.leaseSec }, 'upnp mapping started');
    await this.runRound();
  }

  /**
   * Changes the ports or the lease live: refused arguments throw before anything changes; removed
   * ports are unmapped, new ones mapped now. Gateway trouble is a health item, not a failure.
   */
  async reconfigure(options: UpnpMappingsOptions, _opts: { signal?: AbortSignal } = {}): Promise<{ applied: true }> {
    if (!this.shutdown || this.shutdown.signal.aborted) throw new Error('UpnpMappings is not running');
    const before = new Map(this.states);
    this.applyOptions(options);
    await this.idle();
    const removed = [...before.values()].filter((s) => !this.states.has(key(s.spec)) && s.mapping);
    await this.unmapAll(removed);
    await this.runRound();
    return { applied: true };
  }

  /** Stops renewing and removes every mapping this service made. */
  async stop(): Promise<void> {
    const shutdown = this.shutdown;
    if (!shutdown || shutdown.signal.aborted) return;
    shutdown.abort(new Error('upnp mapping stopped'));
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    await this.idle();
    await this.unmapAll([...this.states.values()].filter((s) => s.mapping));
    for (const code of [...DISCOVERY_ITEMS, MAP_ITEM]) this.deps.health.clear(code);
    this.report(undefined);
    this.deps.log.info({}, 'upnp mapping stopped');
  }

  status(): UpnpStatus {
    const nowMs = this.deps.clock.nowMs();
    return {
      gateway: this.gateway,
      externalIp: this.externalIp,
      mappings: [...this.states.values()].map((s) => {
        const plan = planLeaseRenewal(s.lease, nowMs);
        const state: MappingStateName = !s.mapping ? 'pending' : plan.expired ? 'expired' : s.lease.failures > 0 ? 'failing' : 'mapped';
        return {
          port: s.spec.port,
          protocol: s.spec.protocol,
          state,
          leaseSec: s.lease.grantedLeaseSec,
          expiresAtMs: plan.expiresAtMs,
          failures: s.lease.failures,
          lastErrorCode: s.lastErrorCode,
        };
      }),
    };
  }

  private applyOptions(options: UpnpMappingsOptions): void {
    checkMapArgs(1, 'UDP', options.leaseSec);
    const next = new Map<string, PortState>();
    for (const spec of options.ports) {
      checkMapArgs(spec.port, spec.protocol);
      const old = this.states.get(key(spec));
      next.set(key(spec), old ?? { spec: { ...spec }, lease: { requestedLeaseSec: options.leaseSec, failures: 0 }, mapping: undefined, lastErrorCode: undefined, refused: new Set() });
    }
    for (const s of next.values()) s.lease.requestedLeaseSec = options.leaseSec;
    this.states = next;
    this.leaseSec = options.leaseSec;
  }

  private async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private runRound(): Promise<void> {
    if (this.running) return this.running;
    const round = (async () => {
      try {
        await this.round();
      } catch (err) {
        // round() handles gateway errors itself; anything else is a bug, not a reason to stop renewing.
        if (!this.shutdown?.signal.aborted) this.deps.log.warn({ err, unexpected: true }, 'upnp round failed');
      } finally {
        this.running = undefined;
      }
      this.schedule();
    })();
    this.running = round;
    return round;
  }

  private schedule(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    const shutdown = this.shutdown;
    if (!shutdown || shutdown.signal.aborted) return;
    const nowMs = this.deps.clock.nowMs();
    let wakeMs = Number.POSITIVE_INFINITY;
    for (const s of this.states.values()) {
      const plan = planLeaseRenewal(s.lease, nowMs);
      // With a gateway: the next renewal. Without: when a mapping we still announce expires.
      if (this.gateway) wakeMs = Math.min(wakeMs, plan.kind === 'renew' ? nowMs : plan.untilMs);
      else if (s.mapping && !plan.expired && plan.expiresAtMs !== undefined) wakeMs = Math.min(wakeMs, plan.expiresAtMs);
    }
    if (!this.gateway) wakeMs = Math.min(wakeMs, this.nextDiscoveryAtMs);
    if (!Number.isFinite(wakeMs)) return;
    this.cancelTimer = this.deps.clock.setTimeout(() => {
      this.cancelTimer = undefined;
      void this.runRound();
    }, Math.max(0, wakeMs - nowMs));
  }

  private async round(): Promise<void> {
    const shutdown = this.shutdown!.signal;
    if (shutdown.aborted) return;
    if (!this.gateway) {
      if (this.deps.clock.nowMs() < this.nextDiscoveryAtMs || !(await this.discover(shutdown))) {
        this.reportCurrent();
        return;
      }
    }

    let mappedAny = false;
    for (const s of this.states.values()) {
      if (shutdown.aborted) return;
      const nowMs = this.deps.clock.nowMs();
      if (planLeaseRenewal(s.lease, nowMs).kind !== 'renew') continue;
      try {
        const mapping = await this.mapOne(s, shutdown);
        s.mapping = mapping;
        s.lease = { requestedLeaseSec: this.leaseSec, grantedLeaseSec: mapping.leaseSec, mappedAtMs: this.deps.clock.nowMs(), failures: 0 };
        s.lastErrorCode = undefined;
        this.gatewayTrouble = 0;
        mappedAny = true;
        this.deps.log.debug({ port: s.spec.port, externalPort: mapping.externalPort, protocol: s.spec.protocol, leaseSec: mapping.leaseSec }, 'upnp port mapped');
      } catch (err) {
        if (shutdown.aborted) return;
        s.lease = { ...s.lease, failures: s.lease.failures + 1, lastFailureAtMs: this.deps.clock.nowMs() };
        s.lastErrorCode = errorCode(err);
        this.deps.log.warn({ err, port: s.spec.port, protocol: s.spec.protocol, failures: s.lease.failures }, 'upnp port mapping failed');
        if (isUpnpError(err, 'RN_UPNP_GATEWAY_UNREACHABLE') || isUpnpError(err, 'RN_UPNP_NO_GATEWAY')) {
          this.loseGateway();
          break;
        }
      }
    }
    this.updateMapHealth();

    if (this.gateway && (mappedAny || this.externalIp === undefined)) {
      try {
        this.externalIp = await this.call((signal) => this.deps.mapper.externalIp({ signal }), shutdown);
      } catch (err) {
        if (shutdown.aborted) return;
        this.deps.log.warn({ err }, 'upnp external address unknown');
        if (isUpnpError(err, 'RN_UPNP_GATEWAY_UNREACHABLE') || isUpnpError(err, 'RN_UPNP_NO_GATEWAY')) this.loseGateway();
      }
    }
    this.reportCurrent();
  }

  /**
   * Maps one port: the external port it holds, else the internal one, else (after a conflict)
   * another one each try (pickExternalPort), a few tries per round.
   */
  private async mapOne(s: PortState, shutdown: AbortSignal): Promise<PortMapping> {
    for (let attempt = 1; ; attempt++) {
      const externalPort = s.mapping?.externalPort ?? pickExternalPort(s.spec.port, s.refused);
      if (externalPort === undefined) throw new UpnpError('RN_UPNP_PORT_CONFLICT', `the UPnP gateway refused every external port for ${s.spec.protocol} ${s.spec.port}`);
      try {
        return await this.call((signal) => this.deps.mapper.map(s.spec.port, s.spec.protocol, this.leaseSec, { signal, externalPort }), shutdown);
      } catch (err) {
        if (!isUpnpError(err, 'RN_UPNP_PORT_CONFLICT') || attempt >= CONFLICT_TRIES_PER_ROUND) throw err;
        s.refused.add(externalPort);
        // The port we held was taken over (e.g. while the gateway rebooted): choose again.
        s.mapping = undefined;
        this.deps.log.info({ port: s.spec.port, protocol: s.spec.protocol, externalPort, next: pickExternalPort(s.spec.port, s.refused) }, 'upnp external port taken by another host; asking for another');
      }
    }
  }

  /** Once per start: mappings with our description and address that a crashed run left behind. */
  private async removeStale(shutdown: AbortSignal): Promise<void> {
    const list = this.deps.mapper.ownMappings?.bind(this.deps.mapper);
    if (!list || this.staleChecked) return;
    this.staleChecked = true;
    try {
      const stale = await this.call((signal) => list({ signal }), shutdown);
      for (const m of stale) {
        await this.call((signal) => this.deps.mapper.unmap(m.externalPort, m.protocol, { signal }), shutdown);
      }
      if (stale.length > 0) this.deps.log.info({ ports: stale.map((m) => `${m.protocol}:${m.externalPort}`) }, 'upnp stale mappings of an earlier run removed');
    } catch (err) {
      if (!shutdown.aborted) this.deps.log.warn({ err }, 'upnp stale mappings not removed; they expire with their lease');
    }
  }

  /** Returns whether a usable gateway was found; raises or clears the discovery health item. */
  private async discover(shutdown: AbortSignal): Promise<boolean> {
    try {
      this.gateway = await this.call((signal) => this.deps.mapper.discover({ signal }), shutdown);
    } catch (err) {
      if (shutdown.aborted) return false;
      this.gatewayTrouble++;
      const delayMs = this.rediscoverDelayMs(this.gatewayTrouble);
      this.nextDiscoveryAtMs = this.deps.clock.nowMs() + delayMs;
      const code: UpnpErrorCode = isUpnpError(err, 'RN_UPNP_GATEWAY_UNSUPPORTED') ? 'RN_UPNP_GATEWAY_UNSUPPORTED' : 'RN_UPNP_NO_GATEWAY';
      this.raiseDiscoveryItem(code, err);
      // Logged at debug: the health item carries the news, and this repeats every retry.
      this.deps.log.debug({ err, retryInMs: delayMs }, 'upnp gateway not found');
      return false;
    }
    for (const code of DISCOVERY_ITEMS) this.deps.health.clear(code);
    this.deps.log.info({ remote: this.gateway.location, serviceType: this.gateway.serviceType }, 'upnp gateway found');
    // A new gateway knows none of our mappings: map everything again now.
    for (const s of this.states.values()) s.lease = { requestedLeaseSec: this.leaseSec, failures: 0 };
    await this.removeStale(shutdown);
    return true;
  }

  /** The gateway stopped answering: search again, at once the first time, then with backoff. */
  private loseGateway(): void {
    // The address stays announced while its mappings' leases run: a gateway that
    // missed one request has usually kept them.
    this.gateway = undefined;
    this.gatewayTrouble++;
    this.nextDiscoveryAtMs = this.deps.clock.nowMs() + (this.gatewayTrouble === 1 ? 0 : this.rediscoverDelayMs(this.gatewayTrouble - 1));
  }

  private rediscoverDelayMs(trouble: number): number {
    return Math.min(this.timings.rediscoverMaxMs, this.timings.rediscoverMinMs * 2 ** Math.min(Math.max(0, trouble - 1), 20));
  }

  private raiseDiscoveryItem(code: UpnpErrorCode, err: unknown): void {
    for (const other of DISCOVERY_ITEMS) if (other !== code) this.deps.health.clear(other);
    const ports = describePorts([...this.states.values()].map((s) => s.spec));
    const why = err instanceof Error ? err.message : String(err);
    this.deps.health.raise({
      code,
      title: code === 'RN_UPNP_NO_GATEWAY' ? 'No UPnP gateway' : 'UPnP gateway unusable',
      severity: 'warning',
      text:
        `${why} Peers behind NAT cannot open tunnels to this node unless ${ports} reach it. ` +
        'Enable UPnP on the router, forward those ports by hand, or set upnp.enabled = false in resilnet.toml if the host is reachable directly.',
    });
  }

  private updateMapHealth(): void {
    const failing = [...this.states.values()].filter((s) => s.lease.failures > 0 && s.lastErrorCode !== undefined);
    if (failing.length === 0 || !this.gateway) {
      this.deps.health.clear(MAP_ITEM);
      return;
    }
    const codes = [...new Set(failing.map((s) => s.lastErrorCode))].join(', ');
    this.deps.health.raise({
      code: MAP_ITEM,
      title: 'UPnP mappings refused',
      severity: 'warning',
      text:
        `the UPnP gateway ${this.gateway.location} refused to map ${describePorts(failing.map((s) => s.spec))} (${codes}). ` +
        'Incoming tunnels on those ports will not reach this node; see resilnet events and the router UPnP settings.',
    });
  }

  private reportCurrent(): void {
    const nowMs = this.deps.clock.nowMs();
    const live = [...this.states.values()].filter((s) => s.mapping && !planLeaseRenewal(s.lease, nowMs).expired);
    if (this.externalIp === undefined || live.length === 0) {
      this.report(undefined);
      return;
    }
    this.report({
      ip: this.externalIp,
      mappings: live.map((s) => ({ protocol: s.spec.protocol, internalPort: s.mapping!.internalPort, externalPort: s.mapping!.externalPort })),
    });
  }

  private report(address: ExternalAddress | undefined): void {
    const k = address ? JSON.stringify(address) : 'none';
    if (k === this.reportedKey) return;
    this.reportedKey = k;
    if (address) this.deps.log.info({ remote: address.ip, ports: address.mappings.length }, 'upnp external address');
    this.deps.onExternalAddress(address);
  }

  private async unmapAll(states: PortState[]): Promise<void> {
    await Promise.all(
      states.map(async (s) => {
        const timeout = new AbortController();
        const cancel = this.deps.clock.setTimeout(() => timeout.abort(new Error(`unmap timed out after ${this.timings.unmapTimeoutMs} ms`)), this.timings.unmapTimeoutMs);
        try {
          await this.deps.mapper.unmap(s.mapping?.externalPort ?? s.spec.port, s.spec.protocol, { signal: timeout.signal });
          this.deps.log.debug({ port: s.spec.port, protocol: s.spec.protocol }, 'upnp port unmapped');
        } catch (err) {
          this.deps.log.warn({ err, port: s.spec.port, protocol: s.spec.protocol }, 'upnp port unmap failed; the gateway drops it when the lease ends');
        } finally {
          cancel();
          s.mapping = undefined;
          s.lease = { requestedLeaseSec: this.leaseSec, failures: 0 };
        }
      }),
    );
  }

  /** One gateway call bounded by callTimeoutMs on the injected clock, aborted at shutdown. */
  private async call<T>(fn: (signal: AbortSignal) => Promise<T>, shutdown: AbortSignal): Promise<T> {
    const timeout = new AbortController();
    const cancel = this.deps.clock.setTimeout(
      () => timeout.abort(new Error(`UPnP call timed out after ${this.timings.callTimeoutMs} ms`)),
      this.timings.callTimeoutMs,
    );
    try {
      return await fn(AbortSignal.any([shutdown, timeout.signal]));
    } finally {
      cancel();
    }
  }
}

function errorCode(err: unknown): string {
  if (typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string') return (err as { code: string }).code;
  return err instanceof Error ? err.name : 'unknown';
}

/** "UDP 1194-1204" style text for messages; ranges collapse. */
export function describePorts(specs: PortSpec[]): string {
  const parts: string[] = [];
  for (const protocol of ['UDP', 'TCP'] as const) {
    const ports = [...new Set(specs.filter((s) => s.protocol === protocol).map((s) => s.port))].sort((a, b) => a - b);
    let i = 0;
    while (i < ports.length) {
      let j = i;
      while (j + 1 < ports.length && ports[j + 1] === ports[j]! + 1) j++;
      parts.push(i === j ? `${protocol} ${ports[i]}` : `${protocol} ${ports[i]}-${ports[j]}`);
      i = j + 1;
    }
  }
  return parts.length === 0 ? 'no ports' : parts.join(', ');
}

