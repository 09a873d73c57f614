// Changing a running node. Reload (SIGHUP or `resilnet reload`) and a newer
// network config take the same road: compute the new Settings, diff them slice
// by slice against what runs, push each changed slice to the part that owns it
// (`reconfigure(slice, { signal })`), and swap a slice in the live settings only
// after its part applied it. Planning and reporting are pure; an invalid file
// changes nothing.
import type { NodeConfig } from '../config/node-config.js';
import type { NetworkConfig } from '../config/network-config.js';
import { ResilnetError } from '../config/errors.js';
import type { ReloadItem, ReloadProblem, ReloadReport } from './control/protocol.js';
import { effectiveSettings, type LiveSliceName, type Settings, type SettingsOverrides, type SliceName } from './settings.js';

/** The order in which changed slices are applied (log first: the rest is then logged at the new level). */
export const SLICE_ORDER: readonly SliceName[] = ['start', 'log', 'babel', 'links', 'tunnels', 'registry', 'underlay', 'upnp'];

const SLICE_NOTE: Record<LiveSliceName, string> = {
  log: 'log level changed',
  babel: 'sent to the running babeld over its socket',
  links: 'used by the link check from its next round',
  tunnels: 'used from the next tunnel plan on',
  registry: 'used from the next registry call on',
  underlay: 'announced from the next heartbeat and peer hello on',
  upnp: 'port mappings re-made with the new settings',
};

const RESTART_NOTE = 'takes effect after a restart: systemctl restart resilnet';

/** Pure: the slices whose values differ, in apply order. */
export function diffSettings(before: Settings, after: Settings): SliceName[] {
  return SLICE_ORDER.filter((name) => JSON.stringify(before[name]) !== JSON.stringify(after[name]));
}

/** One key of resilnet.toml that differs, and the slices of the settings it changes. */
export interface FileChange {
  key: string;
  from: unknown;
  to: unknown;
  /** Empty: what runs does not change (e.g. an override equal to the network's value). */
  slices: SliceName[];
}

export interface ReloadPlan {
  /** The config to run with: the new file, with keys that need a restart kept at their running values. */
  config: NodeConfig;
  changes: FileChange[];
}

/**
 * Pure: what a new resilnet.toml changes. Each changed key is tried alone on the running
 * config, so the slices it feeds come from effectiveSettings itself (no second list of rules);
 * a key that feeds the `start` slice needs a restart and is not applied.
 */
export function planReload(running: NodeConfig, file: NodeConfig, network: NetworkConfig, overrides: SettingsOverrides = {}): ReloadPlan {
  const before = flatten(running);
  const after = flatten(file);
  const base = effectiveSettings(running, network, overrides);
  const keys = [...new Set([...before.keys(), ...after.keys()])].filter((k) => k !== 'path').sort();
  const changes: FileChange[] = [];
  let config = file;
  for (const key of keys) {
    const from = before.get(key);
    const to = after.get(key);
    if (JSON.stringify(from) === JSON.stringify(to)) continue;
    const slices = diffSettings(base, effectiveSettings(withKey(running, key, to), network, overrides));
    changes.push({ key, from: from ?? null, to: to ?? null, slices });
    if (slices.includes('start')) config = withKey(config, key, from);
  }
  return { config, changes };
}

/** What a part answers to `reconfigure`: applied, or not confirmed yet (it keeps trying). A throw is a failure. */
export type SliceResult = { applied: true } | { applied: false; pending: string };

export type SliceAppliers = {
  [K in LiveSliceName]: (slice: Settings[K], options: { signal: AbortSignal }) => Promise<SliceResult> | SliceResult;
};

export type SliceOutcome =
  | { slice: LiveSliceName; result: 'applied' }
  | { slice: LiveSliceName; result: 'pending' | 'failed'; code: string; message: string };

/** The settings the node runs with; a slice is swapped only once its part runs it. */
export class LiveSettings {
  private value: Settings;

  constructor(initial: Settings) {
    this.value = initial;
  }

  get current(): Settings {
    return this.value;
  }

  swap<K extends LiveSliceName>(name: K, slice: Settings[K]): void {
    this.value = Object.freeze({ ...this.value, [name]: slice });
  }
}

/**
 * Pushes every changed live slice of `next` to its part, in order, and swaps it into `live`
 * when the part applied it. A pending or failed slice keeps the old one (still in force);
 * the next reload or config change pushes it again. `start` is never applied here.
 */
export async function applySettings(live: LiveSettings, next: Settings, appliers: SliceAppliers, options: { signal: AbortSignal }): Promise<SliceOutcome[]> {
  const outcomes: SliceOutcome[] = [];
  for (const name of diffSettings(live.current, next)) {
    if (name === 'start') continue;
    outcomes.push(await applySlice(live, name, next[name], appliers, options));
  }
  return outcomes;
}

async function applySlice<K extends LiveSliceName>(
  live: LiveSettings,
  name: K,
  slice: Settings[K],
  appliers: SliceAppliers,
  options: { signal: AbortSignal },
): Promise<SliceOutcome> {
  try {
    const r = await (appliers[name] as (s: Settings[K], o: { signal: AbortSignal }) => Promise<SliceResult> | SliceResult)(slice, options);
    if (!r.applied) return { slice: name, result: 'pending', code: 'RN_RELOAD_PENDING', message: r.pending };
    live.swap(name, slice);
    return { slice: name, result: 'applied' };
  } catch (err) {
    const code = err instanceof ResilnetError ? err.code : 'RN_RELOAD_FAILED';
    return { slice: name, result: 'failed', code, message: (err as Error)?.message ?? String(err) };
  }
}

/** Pure: the report of a reload, by resilnet.toml key. */
export function reloadReport(path: string, plan: ReloadPlan, outcomes: readonly SliceOutcome[]): ReloadReport {
  const pending: ReloadProblem[] = [];
  const report = { path, applied: [] as ReloadItem[], pending, skipped: [] as ReloadItem[], failed: [] as ReloadProblem[] } satisfies ReloadReport;
  const bySlice = new Map(outcomes.map((o) => [o.slice, o]));
  for (const c of plan.changes) {
    const item = (note: string, action: ReloadItem['action'] = 'apply-live'): ReloadItem => ({ key: c.key, from: c.from, to: c.to, action, note });
    if (c.slices.includes('start')) {
      report.skipped.push(item(RESTART_NOTE, 'restart-required'));
      continue;
    }
    const mine = c.slices.flatMap((s) => bySlice.get(s as LiveSliceName) ?? []);
    const failed = mine.find((o) => o.result === 'failed');
    const pending = mine.find((o) => o.result === 'pending');
    if (failed && failed.result === 'failed') report.failed.push(problem(c.key, failed));
    else if (pending && pending.result === 'pending') report.pending.push(problem(c.key, pending));
    else report.applied.push(item(c.slices.length ? c.slices.map((s) => SLICE_NOTE[s as LiveSliceName]).join('; ') : 'what runs does not change'));
  }
  // A slice no key of the file explains: pushed again after an earlier attempt did not hold.
  const explained = new Set(plan.changes.flatMap((c) => c.slices));
  for (const o of outcomes) {
    if (explained.has(o.slice)) continue;
    if (o.result === 'applied') report.applied.push({ key: o.slice, from: null, to: null, action: 'apply-live', note: `${SLICE_NOTE[o.slice]} (sent again: an earlier change had not held)` });
    else (o.result === 'failed' ? report.failed : report.pending).push(problem(o.slice, o));
  }
  return report;
}

/** A one-line summary of a reload for the event log. */
export function reportSummary(r: ReloadReport): string {
  const parts = [`applied ${r.applied.map((i) => i.key).join(', ') || 'nothing'}`];
  if (r.pending?.length) parts.push(`pending: ${r.pending.map((i) => i.key).join(', ')}`);
  if (r.skipped.length) parts.push(`needs restart: ${r.skipped.map((i) => i.key).join(', ')}`);
  if (r.failed.length) parts.push(`failed: ${r.failed.map((i) => i.key).join(', ')}`);
  return parts.length > 1 || r.applied.length ? parts.join('; ') : 'nothing changed';
}

/** A one-line summary of pushed slices for the event log. */
export function outcomeSummary(outcomes: readonly SliceOutcome[]): string {
  if (outcomes.length === 0) return 'nothing to change';
  return outcomes.map((o) => (o.result === 'applied' ? o.slice : `${o.slice} ${o.result} (${o.code})`)).join(', ');
}

function problem(key: string, o: Extract<SliceOutcome, { code: string }>): ReloadProblem {
  const tail = o.result === 'pending' ? 'the old value is in force until it does' : 'the old value stays in force';
  return { key, code: o.code, message: `${o.message}; ${tail}` };
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

/** A copy of `config` with one dotted key set (undefined removes it). */
function withKey(config: NodeConfig, key: string, value: unknown): NodeConfig {
  const copy = structuredClone(config) as unknown as Record<string, unknown>;
  const parts = key.split('.');
  let at = copy;
  for (const p of parts.slice(0, -1)) {
    at[p] ??= {};
    at = at[p] as Record<string, unknown>;
  }
  const last = parts.at(-1)!;
  if (value === undefined) delete at[last];
  else at[last] = value;
  return copy as unknown as NodeConfig;
}
