// The node's one way to change what runs: each live slice of the settings goes
// to the part that owns it. A part not started yet takes the live settings when
// it starts, so it counts as applied.
import { loadNodeConfig, type NodeConfig } from '../../config/node-config.js';
import type { NetworkConfig } from '../../config/network-config.js';
import type { BabelSettings } from '../babel-link.js';
import type { ReloadReport } from '../control/protocol.js';
import { applySettings, LiveSettings, planReload, reloadReport, type SliceAppliers, type SliceOutcome } from '../reload.js';
import type { RunningParts } from './parts.js';
import { effectiveSettings, type LogLevel, type RegistrySettings, type Settings, type SettingsOverrides, type TunnelSettings, type UpnpSettings } from '../settings.js';

type Signal = { signal: AbortSignal };

/** The parts as the appliers see them; each getter answers undefined while that part is not running. */
export interface ReconfigurableParts {
  setLogLevel(level: LogLevel): void;
  babel(): { reconfigure(slice: BabelSettings, o: Signal): Promise<{ applied: boolean; pending?: string }> } | undefined;
  tunnels(): { reconfigure(options: TunnelSettings['manager']): void } | undefined;
  registry(): { reconfigure(slice: RegistrySettings, o: Signal): unknown } | undefined;
  upnp(): { reconfigure(slice: UpnpSettings, o: Signal): Promise<unknown> } | undefined;
  /** The planner reads its slice at each round; run one soon. */
  replanSoon(): void;
}

const applied = { applied: true } as const;

/** The appliers over the node's running parts (node/parts.ts). */
export function runningPartAppliers(p: RunningParts, setLogLevel: (level: LogLevel) => void): SliceAppliers {
  return nodeAppliers({
    setLogLevel,
    babel: () => p.babel,
    tunnels: () => p.manager,
    registry: () => p.registrySync,
    upnp: () => p.upnp,
    replanSoon: () => p.jobs?.replanSoon(),
  });
}

export function nodeAppliers(parts: ReconfigurableParts): SliceAppliers {
  return {
    log: (slice) => {
      parts.setLogLevel(slice.level);
      return applied;
    },
    babel: async (slice, o) => {
      const r = await parts.babel()?.reconfigure(slice, o);
      return !r || r.applied ? applied : { applied: false, pending: r.pending ?? 'babeld has not confirmed the change yet' };
    },
    // The link check reads its slice at each round.
    links: () => applied,
    tunnels: (slice) => {
      parts.tunnels()?.reconfigure(slice.manager);
      parts.replanSoon();
      return applied;
    },
    registry: async (slice, o) => {
      await parts.registry()?.reconfigure(slice, o);
      return applied;
    },
    // The address announcer reads its slice at each check.
    underlay: () => applied,
    upnp: async (slice, o) => {
      await parts.upnp()?.reconfigure(slice, o);
      return applied;
    },
  };
}

/**
 * The settings the node runs with, and the one road to change them: a reload of resilnet.toml
 * or a newer network config. Changes run one at a time (a reload and a network config arriving
 * together do not interleave), each computed from what runs when its turn comes.
 */
export class NodeSettings {
  private readonly live: LiveSettings;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    /** The resilnet.toml in force (keys that need a restart stay at their start values). */
    private nodeConfig: NodeConfig,
    network: NetworkConfig,
    private readonly overrides: SettingsOverrides,
    private readonly appliers: SliceAppliers,
    private readonly signal: AbortSignal,
  ) {
    this.live = new LiveSettings(effectiveSettings(nodeConfig, network, overrides));
  }

  get current(): Settings {
    return this.live.current;
  }

  /** Re-reads resilnet.toml (an invalid file throws and changes nothing) and applies what changed. */
  async reload(network: () => NetworkConfig): Promise<ReloadReport> {
    const path = this.nodeConfig.path;
    const file = loadNodeConfig(path);
    return this.turn(async () => {
      const plan = planReload(this.nodeConfig, file, network(), this.overrides);
      this.nodeConfig = plan.config;
      return reloadReport(file.path, plan, await this.apply(effectiveSettings(plan.config, network(), this.overrides)));
    });
  }

  /** A newer network config: the slices it changes go to their parts. */
  adopt(network: NetworkConfig): Promise<SliceOutcome[]> {
    return this.turn(() => this.apply(effectiveSettings(this.nodeConfig, network, this.overrides)));
  }

  private apply(next: Settings): Promise<SliceOutcome[]> {
    return applySettings(this.live, next, this.appliers, { signal: this.signal });
  }

  private turn<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => undefined);
    return run;
  }
}
