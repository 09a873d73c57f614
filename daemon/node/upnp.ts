// UPnP on the node: the mappings start a few seconds after the daemon (their
// client library and discovery would compete with the start-up burst), and the
// upnp slice of the settings turns them on, off, or re-maps ports and lease.
import type { Logger } from 'pino';
import type { HealthRegistry } from '../health/health.js';
import type { UpnpSettings } from '../settings.js';
import type { Clock } from '../sys/clock.js';
import type { ExternalAddress, UpnpMappingsOptions } from '../upnp/mapper.js';

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
  /** Builds the mappings service (default: UpnpMappings on a real gateway client, loaded when first needed). */
  createMappings?: () => Promise<Mappings>;
}

export class NodeUpnp {
  private mappings: Mappings | undefined;
  private starting: Promise<void> | undefined;
  private slice: UpnpSettings | undefined;

  constructor(private readonly deps: NodeUpnpDeps) {}

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
    const mappings = await (this.deps.createMappings ?? (() => this.realMappings()))();
    if (this.deps.signal.aborted) return;
    this.mappings = mappings;
    await mappings.start(optionsOf(this.slice));
  }

  private async realMappings(): Promise<Mappings> {
    const { clock, log, health, onExternalAddress } = this.deps;
    // The UPnP client library is loaded only on nodes that use it (start-up time).
    const [{ UpnpIgd }, { UpnpMappings }] = await Promise.all([import('../upnp/upnp-igd.js'), import('../upnp/mapper.js')]);
    return new UpnpMappings({ mapper: new UpnpIgd({ clock, log }), clock, health, log, onExternalAddress });
  }
}

function optionsOf(slice: UpnpSettings): UpnpMappingsOptions {
  return { ports: slice.ports, leaseSec: slice.leaseSec };
}
