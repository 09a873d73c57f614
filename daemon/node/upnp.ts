// UPnP on the node: the mappings start a few seconds after the daemon (their
// client library and discovery would compete with the start-up burst), and the
// upnp slice of the settings turns them on, off, or re-maps ports and lease.
// With `reach`, a mapping is announced (onExternalAddress) only once a peer's
// probe to the mapped peer-protocol port arrived (upnp/reach.ts); until then,
// and when probes never arrive, the node announces none and counts as NATed.
import type { Logger } from 'pino';
import type { EventLog } from '../events.js';
import type { HealthRegistry } from '../health/health.js';
import type { PeerProtocol } from '../peerproto/protocol.js';
import type { UpnpSettings } from '../settings.js';
import type { Clock } from '../sys/clock.js';
import type { ExternalAddress, UpnpMappingsOptions } from '../upnp/mapper.js';
import { describeAttempts, type ReachStatus } from '../upnp/reach.js';
import { startReachVerifier, type ReachPeer } from '../upnp/reach-node.js';
import { tunnelPortForPeer } from '../upnp/tunnel-port.js';

/** What this needs of UpnpMappings. */
export interface Mappings {
  start(options: UpnpMappingsOptions): Promise<void>;
  reconfigure(options: UpnpMappingsOptions, opts: { signal?: AbortSignal }): Promise<unknown>;
  stop(): Promise<void>;
}

export interface NodeUpnpDeps {
  clock: Clock;
  log: Logger;
  health: Pick<HealthRegistry, 'raise' | 'clear'>;
  onExternalAddress: (address: ExternalAddress | undefined) => void;
  signal: AbortSignal;
  /**
   * Builds the mappings service, which reports to `onMapped` (default: UpnpMappings on a real
   * gateway client, loaded when first needed).
   */
  createMappings?: (onMapped: (address: ExternalAddress | undefined) => void) => Promise<Mappings>;
  /** Verify each mapping by a peer's probe before announcing it (without: announced at once). */
  reach?: {
    peerproto: Pick<PeerProtocol, 'on' | 'request'>;
    /** Peers that may probe, best first. */
    candidates: () => readonly ReachPeer[];
    /** Our peer-protocol port (the mapping of it is the one probed). */
    peerPort: () => number;
    events: Pick<EventLog, 'add'>;
  };
}

export const UPNP_UNREACHABLE_ITEM = 'RN_UPNP_UNREACHABLE';

export class NodeUpnp {
  private mappings: Mappings | undefined;
  private starting: Promise<void> | undefined;
  private slice: UpnpSettings | undefined;
  /** The latest address the mappings reported, announced only once verified. */
  private mapped: ExternalAddress | undefined;
  private announcedKey = 'none';
  private readonly reach: ReturnType<typeof startReachVerifier> | undefined;

  constructor(private readonly deps: NodeUpnpDeps) {
    const r = deps.reach;
    this.reach = r && startReachVerifier({ clock: deps.clock, peerproto: r.peerproto, candidates: r.candidates, onStatus: (s) => this.onReach(s) });
  }

  /** Where the reach check of the mapping stands (idle without one or without checks). */
  reachStatus(): ReachStatus {
    return this.reach?.verifier.status() ?? { state: 'idle' };
  }

  /** For the NAT evidence: where the reach check of the mapping stands, in words (null without a mapping). */
  reachEvidence(): string | null {
    const s = this.reachStatus();
    switch (s.state) {
      case 'idle': return null;
      case 'verified': return `a probe from ${s.by} reached the UPnP mapping ${s.endpoint}: verified and announced`;
      case 'waiting': return `the UPnP gateway maps ${s.endpoint} but it is not announced yet: ${s.why}`;
      case 'probing': return `the UPnP gateway maps ${s.endpoint}; not announced until a probe from ${s.peer} arrives`;
      case 'unreachable': return `the UPnP gateway maps ${s.endpoint} but probes sent there never arrived (${describeAttempts(s.attempts)}): not announced`;
    }
  }

  /**
   * The port a peer whose tunnel-request came from `fromHost` must connect to for our server end
   * on `port`: after a conflict the gateway forwards another external port (upnp/tunnel-port.ts).
   */
  tunnelPortFor(port: number, fromHost: string, localCidrs: readonly (string | null)[]): number {
    const answered = tunnelPortForPeer({ port, fromHost, mapped: this.mapped, localCidrs });
    if (answered !== port) this.deps.log.debug({ port, externalPort: answered, from: fromHost }, 'tunnel port answered as its UPnP external port');
    return answered;
  }

  /** Starts the mappings after `delayMs` when the slice enables them. */
  startLater(slice: UpnpSettings, delayMs: number): void {
    this.slice = slice;
    if (!slice.enabled) return;
    this.deps.clock.setTimeout(() => {
      if (this.deps.signal.aborted || this.mappings || !this.slice?.enabled) return;
      this.ensureStarted().catch((err: unknown) => this.deps.log.warn({ err }, 'UPnP start failed'));
    }, delayMs);
  }

  /** Applies a new upnp slice: off stops the mappings, on starts them, a change re-maps. */
  async reconfigure(slice: UpnpSettings, options: { signal: AbortSignal }): Promise<{ applied: true }> {
    const before = this.slice;
    this.slice = slice;
    try {
      if (!slice.enabled) {
        const m = this.mappings;
        this.mappings = undefined;
        await m?.stop();
      } else if (this.mappings) {
        await this.mappings.reconfigure(optionsOf(slice), options);
      } else {
        await this.ensureStarted();
      }
    } catch (err) {
      this.slice = before;
      throw err;
    }
    return { applied: true };
  }

  async stop(): Promise<void> {
    await this.starting;
    await this.mappings?.stop();
    this.reach?.stop();
    this.deps.health.clear(UPNP_UNREACHABLE_ITEM);
  }

  /** The mappings changed: check the peer-protocol port's endpoint, announce what is verified. */
  private onMapped(address: ExternalAddress | undefined): void {
    this.mapped = address;
    if (!this.reach) return this.announce(address);
    const port = this.deps.reach!.peerPort();
    const m = address?.mappings.find((x) => x.protocol === 'UDP' && x.internalPort === port);
    this.reach.verifier.check(address && m ? `${address.ip}:${m.externalPort}` : undefined);
    this.announceVerified();
  }

  private announceVerified(): void {
    const s = this.reachStatus();
    const a = this.mapped;
    const port = this.deps.reach?.peerPort();
    const m = a?.mappings.find((x) => x.protocol === 'UDP' && x.internalPort === port);
    this.announce(s.state === 'verified' && a && m && s.endpoint === `${a.ip}:${m.externalPort}` ? a : undefined);
  }

  private announce(address: ExternalAddress | undefined): void {
    const key = address ? JSON.stringify(address) : 'none';
    if (key === this.announcedKey) return;
    this.announcedKey = key;
    this.deps.onExternalAddress(address);
  }

  private onReach(s: ReachStatus): void {
    const { health, log } = this.deps;
    const events = this.deps.reach!.events;
    if (s.state === 'verified') {
      health.clear(UPNP_UNREACHABLE_ITEM);
      // A passed re-check changes nothing a user sees: the log has it, the event list does not.
      if (s.confirmations > 0) log.debug({ endpoint: s.endpoint, by: s.by, tookMs: s.tookMs, confirmations: s.confirmations }, 'upnp mapping still reachable');
      else events.add('daemon', `UPnP mapping ${s.endpoint} verified by ${s.by} (its probe arrived in ${s.tookMs} ms): announced`, s.by);
    } else if (s.state === 'unreachable') {
      const why = describeAttempts(s.attempts);
      const next = new Date(s.nextCheckAtMs).toISOString();
      const lost = s.verifiedAtMs === undefined ? '' : `; it was verified at ${new Date(s.verifiedAtMs).toISOString()}, a re-check failed`;
      health.raise({
        code: UPNP_UNREACHABLE_ITEM,
        title: 'UPnP mapping unreachable',
        severity: 'warning',
        text:
          `the UPnP gateway maps ${s.endpoint} to this node, but probes sent there never arrived (${why}${lost}): ` +
          "the router maps the port but drops what arrives. Forward it by hand or check the router's firewall. " +
          `Until then the mapping is not announced and the node counts as behind NAT; checked again at ${next}.`,
      });
      events.add('daemon', `UPnP mapping ${s.endpoint} ${lost ? 'no longer reachable, withdrawn' : 'unreachable'}: ${why}${lost}; not announced, checked again at ${next}`);
    } else if (s.state === 'idle') {
      health.clear(UPNP_UNREACHABLE_ITEM);
    } else {
      log.debug({ reach: s }, 'upnp reach check');
    }
    this.announceVerified();
  }

  /** Starts the mappings once (a reload and the delayed start may both ask). */
  private ensureStarted(): Promise<void> {
    this.starting ??= this.doStart().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  private async doStart(): Promise<void> {
    if (this.mappings || !this.slice) return;
    const onMapped = (a: ExternalAddress | undefined): void => this.onMapped(a);
    const mappings = await (this.deps.createMappings ?? ((m) => this.realMappings(m)))(onMapped);
    if (this.deps.signal.aborted) return;
    this.mappings = mappings;
    await mappings.start(optionsOf(this.slice));
  }

  private async realMappings(onExternalAddress: (a: ExternalAddress | undefined) => void): Promise<Mappings> {
    const { clock, log, health } = this.deps;
    // The UPnP client library is loaded only on nodes that use it (start-up time).
    const [{ UpnpIgd }, { UpnpMappings }] = await Promise.all([import('../upnp/upnp-igd.js'), import('../upnp/mapper.js')]);
    return new UpnpMappings({ mapper: new UpnpIgd({ clock, log }), clock, health, log, onExternalAddress });
  }
}

function optionsOf(slice: UpnpSettings): UpnpMappingsOptions {
  return { ports: slice.ports, leaseSec: slice.leaseSec };
}
