// The lab's verbs: up, down, status, list, exec. `up` records everything it
// creates in the manifest before creating it; `down` works from the manifest
// alone, so it also cleans up after a crashed `up`.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { LabError } from './errors.js';
import type { CommandRunner } from './exec.js';
import { executePlan, realRunner } from './exec.js';
import { lanConfigPatch } from './lan.js';
import { natConfigPatch } from './nat.js';
import { labLayout, labNamespaces, validateLabId, type LabLayout, type NatKind } from './layout.js';
import type { LabManifest } from './manifest.js';
import { claimLabDir, labDir, LAB_ROOT, listLabIds, readManifest, writeManifest } from './manifest.js';
import { buildNetwork } from './network.js';
import type { BuildContext } from './network.js';
import { assertLabPrerequisites, resolveArgv } from './preflight.js';
import { isRunning, stopNamespaceProcesses, stopProcess } from './procs.js';
import { findRepo } from './repo.js';
import { planNamespaceRemoval } from './topology.js';

export const DEFAULT_NODES = 6;
export const DEFAULT_NAT = 1;
export const DEFAULT_HELLO_SEC = 1;

export interface LabUpOptions {
  id?: string;
  nodes?: number;
  nat?: number;
  /** How many public nodes also share one LAN segment (`--lan K`; lab/lan.ts). */
  lan?: number;
  /** The NATed nodes share one router and one LAN segment behind it (`--nat-lan`; lab/lan.ts). */
  natLan?: boolean;
  /** How the NAT routers map ports (default eim). */
  natKind?: NatKind;
  /** false: the NAT routers run no miniupnpd. */
  upnp?: boolean;
  /** How many NAT routers (the last ones) drop what arrives on their UPnP mappings. */
  upnpDrop?: number;
  helloSec?: number;
  root?: string;
  runner?: CommandRunner;
  log?: (line: string) => void;
  /** Stop after the network and NAT routers (no registry, no daemons). */
  networkOnly?: boolean;
  /** Extra network-config settings for `registry init --set` (e.g. client_count=2). */
  registrySettings?: string[];
  /** Registry and enrolment, but no daemons. */
  skipDaemons?: boolean;
  /** Deadline for all-pairs reachability. */
  reachTimeoutMs?: number;
  /** Values merged into each node's resilnet.toml, by table (tests). */
  nodeConfigPatch?: (node: string) => Record<string, Record<string, unknown>>;
  /** Keep a lab whose build failed (default: only when it failed to converge). */
  keepOnFailure?: boolean;
  /** The last N nodes are built but neither registered nor started: they join later (`LabHandle.join`). */
  holdBack?: number;
}

/**
 * What goes into a node's resilnet.toml besides what `register` wrote, by table:
 * LAN members run LAN discovery on their segment interface and nodes behind a NAT
 * router probe the lab's stund, then the caller's patch (tests) on top.
 */
export function labNodeConfigPatch(
  layout: LabLayout,
  patch?: (node: string) => Record<string, Record<string, unknown>>,
): ((node: string) => Record<string, Record<string, unknown>>) | undefined {
  if (!layout.lan && !layout.natLan && layout.gateways.length === 0) return patch;
  return (node) => ({
    ...natConfigPatch(layout, node),
    ...lanConfigPatch(layout.lan, node),
    ...lanConfigPatch(layout.natLan, node),
    ...patch?.(node),
  });
}

export function randomLabId(): string {
  return `l${randomBytes(3).toString('hex')}`;
}

async function existingNamespaces(runner: CommandRunner): Promise<Set<string>> {
  const r = await runner.run(['ip', 'netns', 'list']);
  return new Set(r.stdout.split('\n').map((l) => l.split(' ')[0] ?? '').filter(Boolean));
}

/** Builds the network (and, unless networkOnly, the registry and nodes); returns the manifest. */
export async function labUp(options: LabUpOptions = {}): Promise<LabManifest> {
  assertLabPrerequisites();
  const runner = options.runner ?? realRunner;
  const root = options.root ?? LAB_ROOT;
  const log = options.log ?? (() => undefined);
  const id = validateLabId(options.id ?? randomLabId());
  const layout = labLayout({ id, nodes: options.nodes ?? DEFAULT_NODES, nat: options.nat ?? DEFAULT_NAT,
    ...(options.lan ? { lan: options.lan } : {}),
    ...(options.natLan ? { natLan: true } : {}),
    ...(options.natKind ? { natKind: options.natKind } : {}),
    ...(options.upnp === false ? { upnp: false } : {}),
    ...(options.upnpDrop ? { upnpDrop: options.upnpDrop } : {}),
  });
  const nodeConfigPatch = labNodeConfigPatch(layout, options.nodeConfigPatch);
  const namespaces = labNamespaces(layout);
  const taken = await existingNamespaces(runner);
  const clash = namespaces.filter((n) => taken.has(n));
  if (clash.length > 0) {
    throw new LabError('RN_LAB_NAME_IN_USE', `lab name in use: ${id} (namespaces ${clash.join(', ')} exist and were not made by a lab of this name here). Pick another --name.`);
  }
  const dir = claimLabDir(id, root);
  const manifest: LabManifest = {
    version: 1,
    id,
    createdAt: new Date().toISOString(),
    repo: findRepo(),
    spec: layout.spec,
    hello: options.helloSec ?? DEFAULT_HELLO_SEC,
    layout,
    state: 'building',
    namespaces,
    processes: [],
    nodes: [],
  };
  writeManifest(manifest, root);
  const ctx: BuildContext = { manifest, dir, root, runner, log };
  try {
    await buildNetwork(ctx);
    if (!options.networkOnly) {
      const { startNetwork } = await import('./orchestrate.js');
      await startNetwork(ctx, {
        reachTimeoutMs: options.reachTimeoutMs ?? 60_000 + 2_000 * layout.nodes.length,
        ...(nodeConfigPatch ? { nodeConfigPatch } : {}),
        ...(options.skipDaemons ? { skipDaemons: true } : {}),
        ...(options.registrySettings ? { registrySettings: options.registrySettings } : {}),
        ...(options.holdBack ? { holdBack: options.holdBack } : {}),
      });
    }
    manifest.state = 'up';
    writeManifest(manifest, root);
    return manifest;
  } catch (err) {
    manifest.state = 'failed';
    writeManifest(manifest, root);
    // A network that came up but does not converge stays for inspection; a
    // half-built lab is removed.
    const keep = options.keepOnFailure ?? (err as LabError).code === 'RN_LAB_UNREACHABLE';
    if (!keep) {
      log(`lab ${id}: build failed, removing what was created`);
      await labDown(id, { root, runner }).catch((e: unknown) => log(`lab ${id}: cleanup failed too: ${(e as Error).message}`));
    }
    throw err;
  }
}

export interface LabDownReport {
  id: string;
  processesStopped: number;
  strayProcessesStopped: number;
  namespacesRemoved: string[];
}

/** Stop order: daemons first (they retract routes and stop their children), then the rest. */
const STOP_ORDER = ['daemon', 'registry', 'miniupnpd', 'stund'];

export async function labDown(id: string, options: { root?: string; runner?: CommandRunner; keepFiles?: boolean } = {}): Promise<LabDownReport> {
  const runner = options.runner ?? realRunner;
  const root = options.root ?? LAB_ROOT;
  validateLabId(id);
  const m = readManifest(id, root);
  let stopped = 0;
  const rank = (role: string) => {
    const i = STOP_ORDER.indexOf(role);
    return i < 0 ? STOP_ORDER.length : i;
  };
  const groups = [...new Set(m.processes.map((p) => rank(p.role)))].sort((a, b) => a - b);
  for (const g of groups) {
    const recs = m.processes.filter((p) => rank(p.role) === g);
    const done = await Promise.all(recs.map((p) => stopProcess(p, p.role === 'daemon' ? 15_000 : 5_000)));
    stopped += done.filter(Boolean).length;
  }
  const present = await existingNamespaces(runner);
  const ours = m.namespaces.filter((n) => present.has(n));
  // Whatever still runs inside our namespaces is ours too (e.g. children of a
  // daemon that was killed with -9).
  const stray = await stopNamespaceProcesses(runner, ours);
  await executePlan(planNamespaceRemoval(ours), runner, { ignoreErrors: true });
  const left = await existingNamespaces(runner);
  const stuck = ours.filter((n) => left.has(n));
  if (stuck.length > 0) {
    throw new LabError('RN_LAB_STEP_FAILED', `lab ${id}: namespaces not removed: ${stuck.join(', ')}. Check with: ip netns pids ${stuck[0]}`);
  }
  if (!options.keepFiles) rmSync(labDir(id, root), { recursive: true, force: true });
  return { id, processesStopped: stopped, strayProcessesStopped: stray, namespacesRemoved: ours };
}

export interface LabSummary {
  id: string;
  state: string;
  nodes: number;
  nat: number;
  createdAt: string;
  processesRunning: number;
  processesRecorded: number;
}

export function labList(root = LAB_ROOT): LabSummary[] {
  const out: LabSummary[] = [];
  for (const id of listLabIds(root)) {
    try {
      const m = readManifest(id, root);
      out.push({
        id,
        state: m.state,
        nodes: m.spec.nodes,
        nat: m.spec.nat,
        createdAt: m.createdAt,
        processesRunning: m.processes.filter(isRunning).length,
        processesRecorded: m.processes.length,
      });
    } catch {
      out.push({ id, state: 'unreadable', nodes: 0, nat: 0, createdAt: '', processesRunning: 0, processesRecorded: 0 });
    }
  }
  return out;
}

/** Picks the lab: the given id, or the only one that exists. */
export function resolveLabId(id: string | undefined, root = LAB_ROOT): string {
  if (id) return validateLabId(id);
  const ids = listLabIds(root);
  if (ids.length === 1 && ids[0]) return ids[0];
  if (ids.length === 0) throw new LabError('RN_LAB_NOT_FOUND', 'no lab is running. Start one with: resilnet lab up');
  throw new LabError('RN_LAB_NOT_FOUND', `several labs exist (${ids.join(', ')}): pass --name ID.`);
}

/** The namespace of a lab host by its lab name (n1, gw1, reg, inet). */
export function hostNetns(m: LabManifest, host: string): string {
  const l = m.layout;
  if (host === 'inet') return l.inet.netns;
  if (host === 'reg' || host === 'registry') return l.registry.netns;
  const h = [...l.nodes, ...l.gateways].find((x) => x.name === host);
  if (!h) {
    const names = ['reg', 'inet', ...l.nodes.map((n) => n.name), ...l.gateways.map((g) => g.name)];
    throw new LabError('RN_LAB_NO_SUCH_NODE', `lab ${m.id} has no host ${JSON.stringify(host)} (hosts: ${names.join(', ')}).`);
  }
  return h.netns;
}

/** Runs a command inside a lab host's namespace with the caller's stdio; resolves to its exit code. */
export function labExec(id: string, host: string, argv: string[], options: { root?: string } = {}): Promise<number> {
  const m = readManifest(validateLabId(id), options.root ?? LAB_ROOT);
  const netns = hostNetns(m, host);
  if (argv.length === 0) throw new LabError('RN_LAB_STEP_FAILED', 'lab exec needs a command after --, e.g.: resilnet lab exec --name ID n1 -- ip -6 route');
  return new Promise((resolve) => {
    const [ip, ...args] = resolveArgv(['ip', 'netns', 'exec', netns, ...argv]);
    const child = spawn(ip ?? 'ip', args, { stdio: 'inherit' });
    child.on('error', () => resolve(127));
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}
