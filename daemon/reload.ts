// Reload (SIGHUP or `resilnet reload`): read and validate the file, compute a
// pure plan of what changed, apply each changed part live through the part
// that owns it, and report what was applied. An invalid file changes nothing.
import type { NodeConfig } from '../config/node-config.js';
import { ResilnetError } from '../config/errors.js';
import type { ReloadItem, ReloadReport } from './control/protocol.js';

/** The parts of the daemon a reload can reconfigure live. */
export type ReloadGroup = 'babel' | 'tunnels' | 'registry' | 'log' | 'underlay' | 'upnp';

export interface PlannedChange extends ReloadItem {
  /** The part that applies it; absent when a restart is required. */
  group?: ReloadGroup;
}

export interface ReloadPlan {
  changes: PlannedChange[];
  /** Groups to reconfigure, in the order they are applied. */
  groups: ReloadGroup[];
}

const LIVE: Array<{ key: RegExp; group: ReloadGroup; note: string }> = [
  { key: /^babel\.hello_interval$/, group: 'babel', note: 'sent to the running babeld over its socket' },
  { key: /^tunnels\./, group: 'tunnels', note: 'used from the next tunnel plan on' },
  { key: /^registry\./, group: 'registry', note: 'used from the next registry call on' },
  { key: /^node\.log_level$/, group: 'log', note: 'log level changed' },
  { key: /^underlay\.addresses$/, group: 'underlay', note: 'announced from the next heartbeat and peer hello on' },
  { key: /^upnp\./, group: 'upnp', note: 'port mappings re-made with the new settings' },
];

const GROUP_ORDER: ReloadGroup[] = ['log', 'babel', 'tunnels', 'registry', 'underlay', 'upnp'];

/** Pure: what differs between two configs and how each change is applied. */
export function diffConfig(oldConfig: NodeConfig, newConfig: NodeConfig): ReloadPlan {
  const before = flatten(oldConfig);
  const after = flatten(newConfig);
  const keys = [...new Set([...before.keys(), ...after.keys()])].filter((k) => k !== 'path').sort();
  const changes: PlannedChange[] = [];
  for (const key of keys) {
    const from = before.get(key);
    const to = after.get(key);
    if (JSON.stringify(from) === JSON.stringify(to)) continue;
    const live = LIVE.find((l) => l.key.test(key));
    if (live) {
      changes.push({ key, from: from ?? null, to: to ?? null, action: 'apply-live', note: live.note, group: live.group });
    } else {
      changes.push({ key, from: from ?? null, to: to ?? null, action: 'restart-required', note: 'takes effect after a restart: systemctl restart resilnet' });
    }
  }
  const used = new Set(changes.flatMap((c) => (c.group ? [c.group] : [])));
  return { changes, groups: GROUP_ORDER.filter((g) => used.has(g)) };
}

/** Each part applies the new config to itself; it throws to report a failure and keeps its old state. */
export type ReloadTargets = Record<ReloadGroup, (config: NodeConfig, options: { signal: AbortSignal }) => Promise<void> | void>;

export async function applyReloadPlan(
  plan: ReloadPlan,
  newConfig: NodeConfig,
  targets: ReloadTargets,
  options: { signal: AbortSignal },
): Promise<ReloadReport> {
  const report: ReloadReport = { path: newConfig.path, applied: [], skipped: [], failed: [] };
  const strip = ({ group: _g, ...item }: PlannedChange): ReloadItem => item;
  report.skipped.push(...plan.changes.filter((c) => c.action === 'restart-required').map(strip));
  for (const group of plan.groups) {
    const items = plan.changes.filter((c) => c.group === group);
    try {
      await targets[group](newConfig, options);
      report.applied.push(...items.map(strip));
    } catch (err) {
      const code = err instanceof ResilnetError ? err.code : 'RN_RELOAD_FAILED';
      const message = (err as Error)?.message ?? String(err);
      report.failed.push(...items.map((i) => ({ key: i.key, code, message })));
    }
  }
  return report;
}

/** Dotted keys to leaf values; arrays are leaves (compared as a whole). */
function flatten(value: unknown, prefix = '', out = new Map<string, unknown>()): Map<string, unknown> {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (prefix) {
    out.set(prefix, value);
  }
  return out;
}
