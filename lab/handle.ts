// The lab as a small vocabulary for tests, scenarios and benchmarks: bring a
// lab up, look at nodes only through the real CLI, break things (stop a
// daemon, the registry, freeze a tunnel), and wait on conditions with deadlines.
import { LabError } from './errors.js';
import type { CommandRunner } from './exec.js';
import { realRunner, runChecked } from './exec.js';
import { waitForAllPairs } from './converge.js';
import type { LabUpOptions } from './lab.js';
import { labDown, labNodeConfigPatch, labUp, randomLabId } from './lab.js';
import type { LabGuard } from './guard.js';
import { guardLab } from './guard.js';
import type { LabManifest, LabNodeRecord } from './manifest.js';
import { LAB_ROOT, readManifest } from './manifest.js';
import { daemonRecord, joinNode, registryDir, resilnet, startDaemon, startRegistry, stopDaemon, stopRegistry, type Join } from './orchestrate.js';
import type { ProcessRecord } from './procs.js';
import { isRunning, netnsPids, readProcStat, signalProcess } from './procs.js';
import { probeMatrix } from './reach.js';
import type { ReachMatrix } from './reach.js';
import { nodeCliJson, reachNodes } from './status.js';
import { waitFor } from './wait.js';

export interface TunnelInfo {
  peer: string;
  direction: string;
  interface: string;
  state: string;
  routes: number;
  pid: number | null;
  remote: string | null;
  openedAtMs: number;
  rxBytesPerSec: number;
  txBytesPerSec: number;
  protected: boolean;
}

export interface EventInfo {
  [k: string]: unknown;
}

export class LabHandle {
  private constructor(
    readonly manifest: LabManifest,
    readonly root: string,
    readonly runner: CommandRunner,
    readonly log: (line: string) => void,
    private readonly guard?: LabGuard,
    /** The caller's `nodeConfigPatch` at `up` (a function: not in the manifest), for nodes that join later. */
    private readonly patch?: LabUpOptions['nodeConfigPatch'],
  ) {}

  /**
   * Builds a lab for a test, scenario or benchmark. Unlike `resilnet lab up`, a
   * lab that fails to converge is removed (the error has the diagnosis), and the
   * lab is removed on SIGINT/SIGTERM until `down()`.
   */
  static async up(options: LabUpOptions & { log?: (line: string) => void } = {}): Promise<LabHandle> {
    const log = options.log ?? (() => undefined);
    const id = options.id ?? randomLabId();
    const root = options.root ?? LAB_ROOT;
    const guard = guardLab(id, { root, log });
    try {
      const m = await labUp({ keepOnFailure: false, ...options, id, log });
      return new LabHandle(m, root, options.runner ?? realRunner, log, guard, options.nodeConfigPatch);
    } catch (err) {
      await guard.remove();
      throw err;
    }
  }

  /** A handle on a lab that is already up (e.g. from `resilnet lab up`). */
  static attach(id: string, log: (line: string) => void = () => undefined, root = LAB_ROOT): LabHandle {
    return new LabHandle(readManifest(id, root), root, realRunner, log);
  }

  get id(): string {
    return this.manifest.id;
  }

  async down(): Promise<void> {
    await labDown(this.id, { root: this.root, runner: this.runner });
    this.guard?.release();
  }

  get nodes(): LabNodeRecord[] {
    return this.manifest.nodes;
  }

  node(name: string): LabNodeRecord {
    const n = this.manifest.nodes.find((x) => x.name === name);
    if (!n) throw new LabError('RN_LAB_NO_SUCH_NODE', `lab ${this.id} has no node ${name}.`);
    return n;
  }

  /** The lab node name owning an overlay prefix (or the prefix itself). */
  nameOf(prefix: string): string {
    return this.manifest.nodes.find((n) => n.prefix === prefix)?.name ?? prefix;
  }

  /** `resilnet ARGS --json --config NODE` inside the node's namespace. */
  cliJson<T = unknown>(node: string, ...args: string[]): Promise<T> {
    return nodeCliJson(this.runner, this.manifest, node, args) as Promise<T>;
  }

  async tunnels(node: string): Promise<TunnelInfo[]> {
    return (await this.cliJson<{ tunnels: TunnelInfo[] }>(node, 'tunnels')).tunnels;
  }

  async events(node: string, limit = 1000): Promise<EventInfo[]> {
    return (await this.cliJson<{ events: EventInfo[] }>(node, 'events', '--limit', String(limit))).events;
  }

  /** `resilnet registry …` on the lab's registry dir (admin socket). */
  async registry(...args: string[]): Promise<string> {
    return resilnet(this.runner, this.manifest, undefined, ['registry', ...args, '--dir', registryDir(this.manifest, this.root)]);
  }

  async stopRegistry(): Promise<void> {
    await stopRegistry(this.manifest);
  }

  async startRegistry(): Promise<void> {
    await startRegistry(this.runner, this.manifest, this.root);
  }

  daemon(node: string): ProcessRecord | undefined {
    return daemonRecord(this.manifest, node);
  }

  startDaemon(node: string): ProcessRecord {
    return startDaemon(this.manifest, this.root, node);
  }

  async stopDaemon(node: string): Promise<void> {
    await stopDaemon(this.manifest, node);
  }

  /** kill -9 of the node's daemon; its children stay behind. */
  async killDaemon(node: string): Promise<void> {
    const rec = this.daemon(node);
    if (!rec || !signalProcess(rec, 'SIGKILL')) throw new LabError('RN_LAB_STEP_FAILED', `daemon of ${node} is not running.`);
    await waitFor(() => (isRunning(rec) ? undefined : true), { timeoutMs: 5_000, what: `daemon of ${node} to die` });
  }

  /** Processes in the node's namespace other than its daemon (openvpn, babeld, …). */
  async children(node: string): Promise<Array<{ pid: number; startTime: string; comm: string }>> {
    const n = this.node(node);
    const daemon = this.daemon(node);
    const out: Array<{ pid: number; startTime: string; comm: string }> = [];
    for (const pid of await netnsPids(this.runner, n.netns)) {
      if (daemon && pid === daemon.pid) continue;
      const st = readProcStat(pid);
      if (!st) continue;
      const comm = (await this.runner.run(['cat', `/proc/${pid}/comm`])).stdout.trim();
      out.push({ pid, startTime: st.startTime, comm });
    }
    return out;
  }

  async matrix(nodes?: string[]): Promise<ReachMatrix> {
    return probeMatrix(this.runner, reachNodes(this.manifest).filter((n) => !nodes || nodes.includes(n.name)));
  }

  /**
   * A node held back at `up` (`holdBack`) registers and starts now; resolves once it and every
   * node reach each other. Its resilnet.toml gets what the others got at `up` (the lab's NAT and
   * LAN settings, the caller's `nodeConfigPatch`), then `options.nodeConfigPatch` on top.
   */
  async join(node: string, options: { timeoutMs: number; nodeConfigPatch?: Record<string, Record<string, unknown>> }): Promise<Join> {
    const patch: Record<string, Record<string, unknown>> = { ...labNodeConfigPatch(this.manifest.layout, this.patch)?.(node) };
    for (const [table, values] of Object.entries(options.nodeConfigPatch ?? {})) patch[table] = { ...patch[table], ...values };
    return joinNode(this, node, { reachTimeoutMs: options.timeoutMs, ...(Object.keys(patch).length > 0 ? { nodeConfigPatch: patch } : {}) });
  }

  async awaitAllPairs(options: { timeoutMs: number; nodes?: string[] }): Promise<number> {
    const r = await waitForAllPairs(this.runner, this.manifest, { ...options, log: this.log, root: this.root });
    return r.elapsedMs;
  }

  /** One ping from → to over the overlay. */
  async ping(from: string, to: string, waitSec = 1): Promise<boolean> {
    const r = await this.runner.run(['ip', 'netns', 'exec', this.node(from).netns, 'ping', '-6', '-n', '-q', '-c', '1', '-W', String(waitSec), this.node(to).overlay ?? '::']);
    return r.code === 0;
  }

  /** The interface the kernel of `from` uses towards `to`'s overlay address. */
  async routeDev(from: string, to: string): Promise<string | null> {
    const r = await this.runner.run(['ip', '-n', this.node(from).netns, '-6', 'route', 'get', this.node(to).overlay ?? '::']);
    return / dev (\S+)/.exec(r.stdout)?.[1] ?? null;
  }

  /** Run a command in a lab host and return stdout (throws on failure). */
  async exec(node: string, ...argv: string[]): Promise<string> {
    return runChecked(this.runner, ['ip', 'netns', 'exec', this.node(node).netns, ...argv]);
  }
}

/**
 * Brings a lab up, runs `fn` on it and always removes it afterwards: on
 * success, on an error, and when the process is interrupted.
 */
export async function withLab<T>(options: LabUpOptions & { log?: (line: string) => void }, fn: (lab: LabHandle) => Promise<T>): Promise<T> {
  const id = options.id ?? randomLabId();
  const guard = guardLab(id, { ...(options.root ? { root: options.root } : {}), ...(options.log ? { log: options.log } : {}) });
  try {
    return await fn(await LabHandle.up({ ...options, id }));
  } finally {
    await guard.remove();
  }
}
