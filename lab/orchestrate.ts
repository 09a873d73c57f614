// Starts the resilnet network inside a built lab, only through the real CLI:
// `registry init` + `registry serve` in the registry namespace, one token and
// one `resilnet register` per node, then `resilnet daemon` per node, and waits
// until every node reaches every other over the overlay.
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml';
import { join } from 'node:path';
import { LabError } from './errors.js';
import type { CommandRunner } from './exec.js';
import { runChecked } from './exec.js';
import { REGISTRY_PORT } from './layout.js';
import type { LabManifest, LabNodeRecord } from './manifest.js';
import { labDir, writeManifest } from './manifest.js';
import type { BuildContext } from './network.js';
import { isRunning, lastLines, spawnInNetns, stopProcess } from './procs.js';
import type { ProcessRecord } from './procs.js';
import { waitForAllPairs } from './converge.js';
import { resilnetArgv } from './repo.js';
import { waitFor } from './wait.js';

/** Environment for the lab's processes: system tools before node_modules/.bin. */
export function labEnv(): NodeJS.ProcessEnv {
  return { ...process.env, PATH: `/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:${process.env.PATH ?? ''}` };
}

/** `resilnet ARGS` in a namespace (or the host when netns is undefined); stdout on success. */
export async function resilnet(runner: CommandRunner, m: LabManifest, netns: string | undefined, args: string[], timeoutMs = 60_000): Promise<string> {
  const argv = [...resilnetArgv(m.repo), ...args];
  return runChecked(runner, netns ? ['ip', 'netns', 'exec', netns, ...argv] : argv, { timeoutMs });
}

export function registryDir(m: LabManifest, root: string): string {
  return join(labDir(m.id, root), 'registry');
}


/** Starts `registry serve` (again) and waits until it answers on its admin socket and HTTPS port. */
export async function startRegistry(runner: CommandRunner, m: LabManifest, root: string): Promise<ProcessRecord> {
  const dir = registryDir(m, root);
  const readyFile = join(labDir(m.id, root), 'registry.ready.json');
  rmSync(readyFile, { force: true });
  const rec = spawnInNetns({
    role: 'registry',
    host: 'reg',
    netns: m.layout.registry.netns,
    argv: [...resilnetArgv(m.repo), 'registry', 'serve', '--dir', dir, '--listen', `${m.layout.registry.underlay}:${REGISTRY_PORT}`, '--ready-file', readyFile],
    log: join(labDir(m.id, root), 'registry.log'),
    env: labEnv(),
  });
  m.processes.push(rec);
  writeManifest(m, root);
  await waitFor(
    async () => {
      if (!isRunning(rec)) throw new Error(`registry exited: ${lastLines(rec.log)}`);
      if (!existsSync(readyFile)) throw new Error('not serving yet');
      return true;
    },
    { timeoutMs: 30_000, what: 'the registry to serve' },
  );
  return rec;
}

export async function stopRegistry(m: LabManifest): Promise<void> {
  for (const p of m.processes.filter((p) => p.role === 'registry')) await stopProcess(p, 10_000);
}

/** A token from `registry token add` (plain text or JSON). */
export function parseTokenOutput(stdout: string): string {
  const text = stdout.trim();
  try {
    const j = JSON.parse(text) as { token?: unknown };
    if (typeof j.token === 'string') return j.token;
  } catch {
    // plain text
  }
  const word = text.split('\n').filter(Boolean).at(-1)?.trim().split(/\s+/).at(-1);
  if (!word) throw new LabError('RN_LAB_STEP_FAILED', `registry token add printed no token (output: ${JSON.stringify(text)}).`);
  return word;
}

/** The node's prefix: the CN of its certificate (CN = prefix in CIDR form). */
export function prefixFromCertificate(pem: string): string {
  const cn = /(?:^|\n|,\s*)CN=([^\n,]+)/.exec(new X509Certificate(pem).subject)?.[1];
  if (!cn) throw new LabError('RN_LAB_STEP_FAILED', 'node certificate has no CN');
  return cn.trim();
}

/** PREFIX::1 for a /64 (or shorter) prefix text. */
export function overlayAddress(prefix: string): string {
  const [addr] = prefix.split('/');
  const base = (addr ?? '').replace(/::$/, '');
  const groups = base.split(':').filter((g) => g !== '');
  return groups.length >= 7 ? `${groups.slice(0, 7).join(':')}:1` : `${base}::1`;
}

function nodeRecord(m: LabManifest, root: string, name: string): LabNodeRecord {
  const n = m.layout.nodes.find((x) => x.name === name);
  if (!n) throw new LabError('RN_LAB_NO_SUCH_NODE', `lab ${m.id} has no node ${name}.`);
  const dir = join(labDir(m.id, root), 'nodes', name);
  return {
    name,
    netns: n.netns,
    dir,
    config: join(dir, 'etc', 'resilnet.toml'),
    underlay: n.underlay,
    ...(n.gateway ? { gateway: n.gateway } : {}),
  };
}

export async function addToken(runner: CommandRunner, m: LabManifest, root: string, uses: number): Promise<string> {
  return parseTokenOutput(await resilnet(runner, m, undefined, ['registry', 'token', 'add', '--dir', registryDir(m, root), '--uses', String(uses)]));
}

export async function registerNode(runner: CommandRunner, m: LabManifest, rec: LabNodeRecord, token: string): Promise<void> {
  for (const d of ['etc', 'state', 'run']) mkdirSync(join(rec.dir, d), { recursive: true, mode: 0o700 });
  const args = [
    'register',
    '--registry', m.layout.registry.url,
    '--token', token,
    '--dir', join(rec.dir, 'etc'),
    '--state-dir', join(rec.dir, 'state'),
    '--run-dir', join(rec.dir, 'run'),
  ];
  if (m.registry?.fingerprint) args.push('--fingerprint', m.registry.fingerprint);
  // Generous: at a load of 60 on 2 cores a CLI run that enrols takes over a minute.
  const out = JSON.parse(await resilnet(runner, m, rec.netns, [...args, '--json'], REGISTER_TIMEOUT_MS)) as { prefix?: string; address?: string };
  rec.prefix = out.prefix ?? prefixFromCertificate(readFileSync(join(rec.dir, 'etc', 'node.crt'), 'utf8'));
  rec.overlay = out.address ?? overlayAddress(rec.prefix);
}

/** Merges values into a node's resilnet.toml (tables by name); comments are not kept. */
export function patchNodeConfig(path: string, patch: Record<string, Record<string, unknown>>): void {
  const doc = parseToml(readFileSync(path, 'utf8')) as Record<string, Record<string, unknown>>;
  for (const [table, values] of Object.entries(patch)) doc[table] = { ...(doc[table] ?? {}), ...values };
  writeFileSync(path, `# written by resilnet register, then changed by resilnet lab\n${stringifyToml(doc)}\n`);
}

export function daemonRecord(m: LabManifest, node: string): ProcessRecord | undefined {
  return m.processes.filter((p) => p.role === 'daemon' && p.host === node).at(-1);
}

/**
 * The node binary and the CLI; with RESILNET_LAB_NODE_FLAGS set (e.g. "--cpu-prof
 * --cpu-prof-dir=/tmp/prof"), those node flags go to the daemons named in
 * RESILNET_LAB_NODE_FLAGS_ON (comma-separated; every daemon when unset), for profiling.
 */
function daemonArgvPrefix(repo: string, node: string): string[] {
  const [node0, ...rest] = resilnetArgv(repo);
  const flags = (process.env.RESILNET_LAB_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean);
  const on = process.env.RESILNET_LAB_NODE_FLAGS_ON?.split(',').map((s) => s.trim());
  if (flags.length === 0 || (on && !on.includes(node))) return [node0 as string, ...rest];
  return [node0 as string, ...flags, ...rest];
}

export function startDaemon(m: LabManifest, root: string, node: string): ProcessRecord {
  const rec = m.nodes.find((n) => n.name === node);
  if (!rec) throw new LabError('RN_LAB_NO_SUCH_NODE', `lab ${m.id} has no node ${node}.`);
  const proc = spawnInNetns({
    role: 'daemon',
    host: node,
    netns: rec.netns,
    argv: [...daemonArgvPrefix(m.repo, node), 'daemon', '--config', rec.config],
    log: join(rec.dir, 'daemon.log'),
    env: labEnv(),
  });
  m.processes.push(proc);
  writeManifest(m, root);
  return proc;
}

export async function stopDaemon(m: LabManifest, node: string, graceMs = 15_000): Promise<void> {
  for (const p of m.processes.filter((p) => p.role === 'daemon' && p.host === node)) await stopProcess(p, graceMs);
}

const REGISTER_PARALLEL = 6;
const REGISTER_TIMEOUT_MS = 180_000;

export interface StartNetworkOptions {
  reachTimeoutMs: number;
  nodeConfigPatch?: (node: string) => Record<string, Record<string, unknown>>;
  /** Extra `registry init --set KEY=VALUE` settings (e.g. client_count=2). */
  registrySettings?: string[];
  /** Stop after enrolment: registry serving, nodes registered, no daemons. */
  skipDaemons?: boolean;
  /** The last N nodes of the layout are neither registered nor started: they join later (`joinNode`). */
  holdBack?: number;
}

export async function startNetwork(ctx: BuildContext, options: StartNetworkOptions): Promise<void> {
  const { manifest: m, root, runner, log } = ctx;
  const dir = registryDir(m, root);
  const init = JSON.parse(
    await resilnet(runner, m, m.layout.registry.netns, [
      'registry', 'init',
      '--dir', dir,
      '--prefix', m.layout.overlayPrefix,
      '--listen', `${m.layout.registry.underlay}:${REGISTRY_PORT}`,
      '--set', `babel.hello_interval=${m.hello}`,
      ...(options.registrySettings ?? []).flatMap((kv) => ['--set', kv]),
      '--json',
    ]),
  ) as { ca_fingerprint?: string };
  m.registry = { dir, url: m.layout.registry.url, ...(init.ca_fingerprint ? { fingerprint: init.ca_fingerprint } : {}) };
  writeManifest(m, root);
  await startRegistry(runner, m, root);
  log(`registry: serving ${m.layout.registry.url} in ${m.layout.registry.netns}, network ${m.layout.overlayPrefix}, hello ${m.hello} s`);

  // One token for the whole lab; enrol a few nodes at a time (each is a CLI run).
  const holdBack = Math.min(options.holdBack ?? 0, m.layout.nodes.length - 1);
  const starting = m.layout.nodes.slice(0, m.layout.nodes.length - holdBack);
  m.heldBack = m.layout.nodes.slice(starting.length).map((n) => n.name);
  const token = await addToken(runner, m, root, starting.length);
  const records = starting.map((n) => nodeRecord(m, root, n.name));
  for (let i = 0; i < records.length; i += REGISTER_PARALLEL) {
    await Promise.all(records.slice(i, i + REGISTER_PARALLEL).map((rec) => registerNode(runner, m, rec, token)));
  }
  for (const rec of records) {
    if (options.nodeConfigPatch) patchNodeConfig(rec.config, options.nodeConfigPatch(rec.name));
    m.nodes.push(rec);
  }
  writeManifest(m, root);
  log(`register: ${m.nodes.length} nodes enrolled (${m.nodes.map((n) => `${n.name} ${n.prefix}`).join(', ')})`);

  if (options.skipDaemons) return;
  m.daemonsStartedAtMs = Date.now();
  for (const n of m.nodes) startDaemon(m, root, n.name);
  log(`daemons: started ${m.nodes.length}`);
  const { allReachedAtMs } = await waitForAllPairs(runner, m, { timeoutMs: options.reachTimeoutMs, log, root });
  m.convergedAtMs = Date.now();
  m.allReachedAtMs = allReachedAtMs;
  writeManifest(m, root);
  log(`converged: all ${m.nodes.length * (m.nodes.length - 1)} pairs reach each other, ${((Date.now() - m.daemonsStartedAtMs) / 1000).toFixed(1)} s after the daemons started`);
}

export interface Join {
  node: string;
  /** When its daemon was started (after `resilnet register`). */
  startedAtMs: number;
  /** Until a full round found every pair from and to it reaching. */
  elapsedMs: number;
  /** Until the round that first saw all those pairs reach. */
  allReachedMs: number;
}

/**
 * A node that `startNetwork` held back joins the running network the way a new
 * host does: a token, `resilnet register`, `resilnet daemon`; resolves once it
 * and every other node reach each other (RN_LAB_UNREACHABLE on timeout).
 */
export async function joinNode(
  ctx: { manifest: LabManifest; root: string; runner: CommandRunner; log: (line: string) => void },
  node: string,
  options: { reachTimeoutMs: number; nodeConfigPatch?: Record<string, Record<string, unknown>> },
): Promise<Join> {
  const { manifest: m, root, runner, log } = ctx;
  if (!m.heldBack?.includes(node)) throw new LabError('RN_LAB_NO_SUCH_NODE', `${node} is not a node held back in lab ${m.id} (held back: ${m.heldBack?.join(', ') || 'none'}).`);
  const rec = nodeRecord(m, root, node);
  await registerNode(runner, m, rec, await addToken(runner, m, root, 1));
  if (options.nodeConfigPatch) patchNodeConfig(rec.config, options.nodeConfigPatch);
  m.nodes.push(rec);
  m.heldBack = m.heldBack.filter((n) => n !== node);
  const startedAtMs = Date.now();
  startDaemon(m, root, node);
  log(`join: ${node} (${rec.prefix}) started`);
  const r = await waitForAllPairs(runner, m, { timeoutMs: options.reachTimeoutMs, log, root, pairsWith: node });
  const join = { node, startedAtMs, elapsedMs: Date.now() - startedAtMs, allReachedMs: r.allReachedAtMs - startedAtMs };
  log(`join: ${node} reaches every node and every node reaches it ${(join.allReachedMs / 1000).toFixed(1)} s after its daemon started`);
  return join;
}
