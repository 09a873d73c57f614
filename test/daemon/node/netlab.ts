// A small namespace lab for the daemon's integration tests: one bridge
// namespace joining node namespaces on a private 10.X.0.0/24 underlay, a real
// registry, real `resilnet register` and real `resilnet daemon` processes, run
// from the build (`npm run build` first; checked at NodeLab.create).
// Everything is named from a random run id and torn down by name and PID.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext, TestFn } from 'ava';
import { StopWaiting, waitFor } from '../../fixtures/wait.js';
import { BUILT_CLI, assertBuildCurrent } from '../../fixtures/built-cli.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function run(argv: string[], options: { timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
  return new Promise((resolvePromise) => {
    const child = execFile(argv[0]!, argv.slice(1), { timeout: options.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024, cwd: REPO }, (err, stdout, stderr) => {
      // execFile's error carries the exit status as a number, or a string such as ENOENT.
      const status = (err as { code?: unknown } | null)?.code;
      const code = err ? (typeof status === 'number' ? status : 1) : 0;
      // Killed by the timeout (or spawn failed): say so, an empty stderr explains nothing.
      const why = err && typeof status !== 'number' ? `\n(${argv[0]}: ${err.killed ? `killed after ${options.timeoutMs ?? 60_000} ms` : String(status ?? err.message)})` : '';
      resolvePromise({ code, stdout: String(stdout), stderr: String(stderr) + why });
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

export async function runOk(argv: string[], options: { timeoutMs?: number } = {}): Promise<string> {
  const r = await run(argv, options);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} failed (${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

export interface LabHost {
  name: string;
  ns: string;
  underlayIp: string;
  dir: string;
}

export interface DaemonProc {
  host: LabHost;
  child: ChildProcess;
  configPath: string;
  logPath: string;
  exited: Promise<number | null>;
}

export class NodeLab {
  readonly id = `rnt${randomBytes(3).toString('hex')}`;
  readonly net = `10.${100 + (randomBytes(1)[0]! % 150)}.${randomBytes(1)[0]! % 250}`;
  readonly root: string;
  readonly bridgeNs: string;
  private readonly hosts = new Map<string, LabHost>();
  private readonly procs = new Set<ChildProcess>();
  private nextIndex = 1;

  private constructor() {
    this.root = `/tmp/resilnet-daemon-test/${this.id}`;
    this.bridgeNs = `${this.id}-br`;
  }

  /** `t` removes the lab at its end: a test's context, or a file's (sharedNetwork). */
  static async create(t: Pick<ExecutionContext, 'teardown'>): Promise<NodeLab> {
    assertBuildCurrent();
    const lab = new NodeLab();
    t.teardown(() => lab.destroy());
    mkdirSync(lab.root, { recursive: true });
    await runOk(['ip', 'netns', 'add', lab.bridgeNs]);
    await runOk(['ip', '-n', lab.bridgeNs, 'link', 'set', 'lo', 'up']);
    await runOk(['ip', '-n', lab.bridgeNs, 'link', 'add', 'br0', 'type', 'bridge']);
    await runOk(['ip', '-n', lab.bridgeNs, 'link', 'set', 'br0', 'up']);
    return lab;
  }

  log(line: string): void {
    appendFileSync(join(this.root, 'test.log'), `${new Date().toISOString()} ${line}\n`);
  }

  /** A namespace on the underlay with address 10.X.Y.I/24 on eth0. */
  async addHost(name: string): Promise<LabHost> {
    const i = this.nextIndex++;
    const ns = `${this.id}-${name}`;
    const host: LabHost = { name, ns, underlayIp: `${this.net}.${i}`, dir: join(this.root, name) };
    mkdirSync(host.dir, { recursive: true });
    this.hosts.set(name, host);
    const peerIf = `${this.id}v${i}`;
    await runOk(['ip', 'netns', 'add', ns]);
    await runOk(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    await runOk(['ip', '-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', peerIf]);
    await runOk(['ip', '-n', ns, 'link', 'set', peerIf, 'netns', this.bridgeNs]);
    await runOk(['ip', '-n', this.bridgeNs, 'link', 'set', peerIf, 'master', 'br0', 'up']);
    await runOk(['ip', '-n', ns, 'addr', 'add', `${host.underlayIp}/24`, 'dev', 'eth0']);
    await runOk(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
    return host;
  }

  /**
   * A namespace on a private LAN behind `router` (another lab host, whose eth0
   * is its WAN): eth0 10.99.Y.2/24 here, lan0 10.99.Y.1/24 on the router, and a
   * default route through it. The router only forwards; NAT rules are the caller's.
   */
  async addHostBehind(name: string, router: LabHost): Promise<LabHost & { lanIfName: string; lanCidr: string; routerLanIp: string }> {
    this.nextIndex++;
    const ns = `${this.id}-${name}`;
    const lanNet = `10.99.${this.net.split('.')[2]}`;
    const host: LabHost = { name, ns, underlayIp: `${lanNet}.2`, dir: join(this.root, name) };
    mkdirSync(host.dir, { recursive: true });
    this.hosts.set(name, host);
    await runOk(['ip', 'netns', 'add', ns]);
    await runOk(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    // Created straight inside the two namespaces: no name ever exists in the root namespace.
    await runOk(['ip', 'link', 'add', 'eth0', 'netns', ns, 'type', 'veth', 'peer', 'name', 'lan0', 'netns', router.ns]);
    await runOk(['ip', '-n', router.ns, 'addr', 'add', `${lanNet}.1/24`, 'dev', 'lan0']);
    await runOk(['ip', '-n', router.ns, 'link', 'set', 'lan0', 'up']);
    await runOk(['ip', '-n', ns, 'addr', 'add', `${host.underlayIp}/24`, 'dev', 'eth0']);
    await runOk(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
    await runOk(['ip', '-n', ns, 'route', 'add', 'default', 'via', `${lanNet}.1`]);
    await runOk(['ip', 'netns', 'exec', router.ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    return { ...host, lanIfName: 'lan0', lanCidr: `${lanNet}.0/24`, routerLanIp: `${lanNet}.1` };
  }

  /** Starts any long-running program in a host's namespace (output to HOST.dir/LOGNAME.log); killed at teardown. */
  spawnIn(host: LabHost, argv: string[], logName: string): { child: ChildProcess; logPath: string; exited: Promise<number | null> } {
    const logPath = join(host.dir, `${logName}.log`);
    writeFileSync(logPath, '');
    const child = spawn('ip', ['netns', 'exec', host.ns, ...argv], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => appendFileSync(logPath, d));
    child.stderr!.on('data', (d: Buffer) => appendFileSync(logPath, d));
    this.procs.add(child);
    const exited = new Promise<number | null>((r) =>
      child.once('exit', (code) => {
        this.procs.delete(child);
        r(code);
      }),
    );
    return { child, logPath, exited };
  }

  host(name: string): LabHost {
    const h = this.hosts.get(name);
    if (!h) throw new Error(`no host ${name}`);
    return h;
  }

  /** Runs the resilnet CLI (the build) inside a host's namespace. */
  cli(host: LabHost, args: string[], options: { timeoutMs?: number } = {}): Promise<RunResult> {
    return run(['ip', 'netns', 'exec', host.ns, ...BUILT_CLI, ...args], options);
  }

  async cliJson<T = any>(host: LabHost, args: string[]): Promise<T> {
    const r = await this.cli(host, [...args, '--json']);
    if (r.code !== 0) throw new Error(`resilnet ${args.join(' ')} on ${host.name} failed (${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
    return JSON.parse(r.stdout) as T;
  }

  /** Starts a long-running CLI process (registry serve, daemon) in a namespace; killed at teardown. */
  spawnCli(host: LabHost, args: string[], logName: string): { child: ChildProcess; logPath: string; exited: Promise<number | null> } {
    return this.spawnIn(host, [...BUILT_CLI, ...args], logName);
  }

  /** Whether any process still runs in the namespace (by `ip netns pids`). */
  /** The PIDs in the host's namespace; throws when `ip netns pids` fails (an empty answer must mean "none"). */
  async nsPids(host: LabHost): Promise<number[]> {
    const out = await runOk(['ip', 'netns', 'pids', host.ns]);
    return out.split(/\s+/).filter(Boolean).map(Number);
  }

  async ping6(from: LabHost, address: string, options: { count?: number } = {}): Promise<boolean> {
    const r = await run(['ip', 'netns', 'exec', from.ns, 'ping', '-6', '-c', String(options.count ?? 1), '-W', '1', address], { timeoutMs: 10_000 });
    return r.code === 0;
  }

  async destroy(): Promise<void> {
    for (const child of this.procs) child.kill('SIGTERM');
    const deadline = Date.now() + 15_000;
    while (this.procs.size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    for (const child of this.procs) child.kill('SIGKILL');
    for (const host of this.hosts.values()) {
      // Children the daemon left (if a test failed mid-way): only the PIDs inside our own namespace.
      for (const pid of await this.nsPids(host).catch(() => [])) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await run(['ip', 'netns', 'del', host.ns]);
    }
    await run(['ip', 'netns', 'del', this.bridgeNs]);
    if (!process.env.RESILNET_KEEP_TEST_FILES) rmSync(this.root, { recursive: true, force: true });
  }
}

export interface RegistryInfo {
  host: LabHost;
  dir: string;
  url: string;
  proc: ReturnType<NodeLab['spawnCli']>;
}

/** The network's overlay prefix for a lab: a ULA /48 from the run id. */
export function labNetworkPrefix(lab: NodeLab): string {
  return `fd${lab.id.slice(3, 5)}:${lab.id.slice(5, 9)}:1::/48`;
}

/** `registry init` + `registry serve` in the host's namespace; resolves once it serves. */
export async function startRegistry(lab: NodeLab, host: LabHost, settings: string[] = []): Promise<RegistryInfo> {
  const dir = join(host.dir, 'registry');
  const listen = `${host.underlayIp}:8443`;
  const init = await lab.cli(host, ['registry', 'init', '--dir', dir, '--prefix', labNetworkPrefix(lab), '--listen', listen, ...settings.flatMap((s) => ['--set', s])]);
  if (init.code !== 0) throw new Error(`registry init failed: ${init.stderr}`);
  const ready = join(dir, 'ready.json');
  const proc = lab.spawnCli(host, ['registry', 'serve', '--dir', dir, '--ready-file', ready], 'registry');
  const info = await waitFor(() => {
    if (!existsSync(ready)) throw new Error('no ready file yet');
    return JSON.parse(readFileSync(ready, 'utf8')) as { url: string };
  }, { what: 'the registry to serve', timeoutMs: 120_000 });
  return { host, dir, url: info.url, proc };
}

/** A token, then `resilnet register` into HOST.dir/node. Returns the config path. */
export async function registerNode(lab: NodeLab, registry: RegistryInfo, host: LabHost, options: { port?: number } = {}): Promise<string> {
  const tok = await lab.cli(registry.host, ['registry', 'token', 'add', '--dir', registry.dir]);
  if (tok.code !== 0) throw new Error(`token add failed: ${tok.stderr}`);
  const token = tok.stdout.trim();
  const dir = join(host.dir, 'node');
  const r = await lab.cli(host, [
    'register', '--registry', registry.url, '--token', token, '--dir', dir,
    '--state-dir', join(dir, 'state'), '--run-dir', join(dir, 'run'), '--port', String(options.port ?? 1194),
  ]);
  if (r.code !== 0) throw new Error(`register on ${host.name} failed: ${r.stderr}`);
  return join(dir, 'resilnet.toml');
}

export function editFile(path: string, edit: (text: string) => string): void {
  writeFileSync(path, edit(readFileSync(path, 'utf8')));
}

/** Test defaults: no UPnP (no gateway in the lab), frequent heartbeats. */
export function testNodeConfig(text: string): string {
  return text.replace(/enabled = true/, 'enabled = false').replace(/heartbeat_interval = 60/, 'heartbeat_interval = 3');
}

export interface RunningNode {
  host: LabHost;
  configPath: string;
  proc: ReturnType<NodeLab['spawnCli']>;
  prefix: string;
  address: string;
}

/** Starts `resilnet daemon` in the host's namespace and waits until its control socket answers. */
export async function startDaemon(lab: NodeLab, host: LabHost, configPath: string, extraArgs: string[] = []): Promise<RunningNode> {
  const proc = lab.spawnCli(host, ['daemon', '--config', configPath, ...extraArgs], 'daemon');
  const status = await waitFor(async () => {
    const code = await Promise.race([proc.exited, Promise.resolve('running')]);
    if (code !== 'running') {
      // The test's files are removed at teardown: the log's end goes into the failure itself.
      const tail = existsSync(proc.logPath) ? readFileSync(proc.logPath, 'utf8').trimEnd().split('\n').slice(-15).join('\n') : '(no log)';
      throw new StopWaiting(`daemon exited with ${code}; the end of ${proc.logPath}:\n${tail}`);
    }
    return lab.cliJson<{ prefix: string; address: string }>(host, ['status', '--config', configPath]);
  }, { what: `${host.name}: daemon control socket`, timeoutMs: 180_000 });
  return { host, configPath, proc, prefix: status.prefix, address: status.address };
}

export interface StartedNetwork {
  lab: NodeLab;
  registry: RegistryInfo;
  nodes: Map<string, RunningNode>;
  configs: Map<string, string>;
}

/**
 * A registry (with `settings`, e.g. "babel.hello_interval=1") and one registered,
 * running daemon per name. Every config gets `editConfig` (default testNodeConfig)
 * before any daemon starts; `daemonArgs` adds command-line options per node.
 */
export async function startNetwork(
  t: { teardown: ExecutionContext['teardown']; log: (line: string) => void },
  names: string[],
  settings: string[],
  options: { editConfig?: (text: string) => string; daemonArgs?: (name: string) => string[] } = {},
): Promise<StartedNetwork> {
  const lab = await NodeLab.create(t);
  const registry = await startRegistry(lab, await lab.addHost('reg'), settings);
  const configs = new Map<string, string>();
  for (const name of names) {
    const cfg = await registerNode(lab, registry, await lab.addHost(name));
    editFile(cfg, options.editConfig ?? testNodeConfig);
    configs.set(name, cfg);
  }
  const nodes = new Map<string, RunningNode>();
  for (const name of names) nodes.set(name, await startDaemon(lab, lab.host(name), configs.get(name)!, options.daemonArgs?.(name) ?? []));
  t.log(names.map((n) => `${n}=${nodes.get(n)!.prefix}`).join(' '));
  return { lab, registry, nodes, configs };
}

/**
 * One network for the serial tests of a file that do not disturb each other:
 * started (as startNetwork) by the first test that asks, each later test gets
 * the same one, and it is removed after the file's last test, also when one
 * failed (test.after.always). A failed start fails every test that asks.
 */
export function sharedNetwork(
  test: TestFn,
  names: string[],
  settings: string[],
  options?: Parameters<typeof startNetwork>[3],
): (t: ExecutionContext) => Promise<StartedNetwork> {
  const teardowns: Array<() => unknown> = [];
  let started: Promise<StartedNetwork> | undefined;
  test.after.always(async () => {
    for (const fn of teardowns.reverse()) await fn();
  });
  return (t) => (started ??= startNetwork({ teardown: (fn) => void teardowns.push(fn), log: (line) => t.log(line) }, names, settings, options));
}

/** `resilnet ARGS --json` against a running node's daemon. */
export const nodeCli = (lab: NodeLab, n: RunningNode, ...args: string[]): Promise<any> => lab.cliJson(n.host, [...args, '--config', n.configPath]);

/** The up tunnel from `from` to `to` (of that direction when given) in `from`'s `tunnels --json`; throws while there is none. */
export async function tunnelUp(lab: NodeLab, from: RunningNode, to: RunningNode, direction?: 'outgoing' | 'incoming'): Promise<any> {
  const { tunnels } = await nodeCli(lab, from, 'tunnels');
  const t = tunnels.find((x: any) => x.peer === to.prefix && x.state === 'up' && (direction === undefined || x.direction === direction));
  if (!t) throw new Error(`${from.host.name}: no up ${direction ? `${direction} ` : ''}tunnel with ${to.host.name}; tunnels: ${JSON.stringify(tunnels.map((x: any) => [x.peer, x.direction, x.state]))}`);
  return t;
}

/** One ping over the overlay: true on a reply, throws when there is none. */
export async function pings(lab: NodeLab, from: RunningNode, to: RunningNode): Promise<true> {
  if (!(await lab.ping6(from.host, to.address))) throw new Error(`${from.host.name} gets no reply from ${to.host.name} (${to.address})`);
  return true;
}
