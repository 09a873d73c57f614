// The node's one way to change what runs: each live slice of the settings goes
// to the part that owns it. A part not started yet takes the live settings when
// it starts, so it counts as applied. Changes run one at a time (a reload and a
// network config arriving together do not interleave).
import type { BabelSettings } from '../babel-link.js';
import { applySettings, type LiveSettings, type SliceAppliers, type SliceOutcome } from '../reload.js';
import type { LogLevel, RegistrySettings, Settings, TunnelSettings, UpnpSettings } from '../settings.js';

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

/** Runs settings changes one after the other. */
export class SettingsChanges {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly live: LiveSettings,
    private readonly appliers: SliceAppliers,
    private readonly signal: AbortSignal,
  ) {}

  /** `next` is computed inside the turn, from what runs then. */
  apply(next: (current: Settings) => Settings): Promise<SliceOutcome[]> {
    const turn = this.queue.then(() => applySettings(this.live, next(this.live.current), this.appliers, { signal: this.signal }));
    this.queue = turn.catch(() => undefined);
    return turn;
  }
}
