// What `lab status` shows: per node its overlay address, daemon process, and
// what the node's own CLI reports (status, tunnels, dead peers), plus the
// reachability matrix. Collecting runs the real CLI; rendering is pure.
import type { CommandRunner } from './exec.js';
import type { LabManifest } from './manifest.js';
import { isRunning } from './procs.js';
import { missingPairs, probeMatrix, renderMatrix } from './reach.js';
import type { ReachMatrix, ReachNode } from './reach.js';
import { resilnetArgv } from './repo.js';

export interface LabNodeStatus {
  name: string;
  netns: string;
  overlay: string | null;
  prefix: string | null;
  underlay: string;
  gateway: string | null;
  daemon: { pid: number | null; running: boolean };
  tunnels: Array<{ peer: string; interface: string; state: string; direction: string; routes: number }> | null;
  peers: { total: number; live: number; dead: number } | null;
  deadPeers: Array<{ prefix: string; reason: string | null }> | null;
  babel: { routes: number; neighbours: number } | null;
  error: string | null;
}

export interface LabStatus {
  id: string;
  state: string;
  registry: { url: string; running: boolean } | null;
  nodes: LabNodeStatus[];
  reachability: { matrix: ReachMatrix; reached: number; pairs: number; missing: Array<[string, string]> };
}

/** Runs `resilnet ARGS --json --config CONFIG` in the node's namespace; parsed JSON or an error text. */
export async function nodeCliJson(runner: CommandRunner, m: LabManifest, node: string, args: string[]): Promise<unknown> {
  const rec = m.nodes.find((n) => n.name === node);
  if (!rec) throw new Error(`no node ${node}`);
  const r = await runner.run(['ip', 'netns', 'exec', rec.netns, ...resilnetArgv(m.repo), ...args, '--json', '--config', rec.config], {
    timeoutMs: 20_000,
  });
  if (r.code !== 0) throw new Error(r.stderr.trim().split('\n').slice(-1)[0] || `resilnet ${args.join(' ')} exit ${r.code}`);
  return JSON.parse(r.stdout) as unknown;
}

export function reachNodes(m: LabManifest): ReachNode[] {
  return m.nodes.filter((n) => n.overlay).map((n) => ({ name: n.name, netns: n.netns, overlay: n.overlay as string }));
}

interface TunnelsJson {
  tunnels?: Array<{ peer: string; interface: string; state: string; direction: string; routes: number }>;
}
interface StatusJson {
  peers?: { total: number; live: number; dead: number };
  babeld?: { routes: number; neighbours: number };
}
interface PeersJson {
  peers?: Array<{ prefix: string; deadReason: string | null }>;
}

/** Nodes whose daemons are asked at the same time. */
const STATUS_NODES_AT_ONCE = 4;

export async function collectLabStatus(runner: CommandRunner, m: LabManifest, options: { probe?: boolean } = {}): Promise<LabStatus> {
  const daemons = new Map(m.processes.filter((p) => p.role === 'daemon').map((p) => [p.host, p]));
  const registryProc = m.processes.filter((p) => p.role === 'registry').at(-1);
  const nodeStatus = async (n: LabManifest['nodes'][number]): Promise<LabNodeStatus> => {
    const proc = daemons.get(n.name);
    const running = proc ? isRunning(proc) : false;
    const out: LabNodeStatus = {
      name: n.name,
      netns: n.netns,
      overlay: n.overlay ?? null,
      prefix: n.prefix ?? null,
      underlay: n.underlay,
      gateway: n.gateway ?? null,
      daemon: { pid: proc?.pid ?? null, running },
      tunnels: null,
      peers: null,
      deadPeers: null,
      babel: null,
      error: null,
    };
    if (!running) {
      out.error = 'daemon not running';
      return out;
    }
    try {
      const [st, tu] = await Promise.all([
        nodeCliJson(runner, m, n.name, ['status']) as Promise<StatusJson>,
        nodeCliJson(runner, m, n.name, ['tunnels']) as Promise<TunnelsJson>,
      ]);
      // Only ask for the dead list when there is one.
      const dead: PeersJson = st.peers?.dead ? ((await nodeCliJson(runner, m, n.name, ['peers', '--dead'])) as PeersJson) : { peers: [] };
      out.peers = st.peers ?? null;
      out.babel = st.babeld ? { routes: st.babeld.routes, neighbours: st.babeld.neighbours } : null;
      out.tunnels = (tu.tunnels ?? []).map((t) => ({ peer: t.peer, interface: t.interface, state: t.state, direction: t.direction, routes: t.routes }));
      out.deadPeers = (dead.peers ?? []).map((p) => ({ prefix: p.prefix, reason: p.deadReason }));
    } catch (err) {
      out.error = (err as Error).message;
    }
    return out;
  };
  // Two or three CLI runs per node: all at once, 32 nodes' worth timed out on 2 cores (20 s each).
  const nodes: LabNodeStatus[] = [];
  for (let i = 0; i < m.nodes.length; i += STATUS_NODES_AT_ONCE) nodes.push(...(await Promise.all(m.nodes.slice(i, i + STATUS_NODES_AT_ONCE).map(nodeStatus))));
  const names = reachNodes(m).map((n) => n.name);
  const matrix = options.probe === false ? {} : await probeMatrix(runner, reachNodes(m));
  const missing = missingPairs(matrix, names);
  const pairs = names.length * (names.length - 1);
  return {
    id: m.id,
    state: m.state,
    registry: m.registry ? { url: m.registry.url, running: registryProc ? isRunning(registryProc) : false } : null,
    nodes,
    reachability: { matrix, reached: pairs - missing.length, pairs, missing },
  };
}

/** Names an overlay prefix by its lab node, for readable tunnel lists. */
function nodeNameByPrefix(status: LabStatus): (prefix: string) => string {
  const map = new Map(status.nodes.filter((n) => n.prefix).map((n) => [n.prefix as string, n.name]));
  return (p) => map.get(p) ?? p;
}

export function renderLabStatus(status: LabStatus): string {
  const name = nodeNameByPrefix(status);
  const lines: string[] = [];
  lines.push(`lab ${status.id} (${status.state})${status.registry ? `, registry ${status.registry.url} ${status.registry.running ? 'running' : 'STOPPED'}` : ''}`);
  lines.push('');
  lines.push('node  overlay                         underlay        daemon    peers(live/dead)  tunnels');
  for (const n of status.nodes) {
    const daemon = n.daemon.running ? `pid ${n.daemon.pid}` : 'down';
    const peers = n.peers ? `${n.peers.live}/${n.peers.dead}` : '-';
    const tunnels = n.tunnels ? n.tunnels.map((t) => `${name(t.peer)}${t.state === 'up' ? '' : `(${t.state})`}`).join(' ') || '(none)' : '-';
    const via = n.gateway ? ` via ${n.gateway}` : '';
    lines.push(
      `${n.name.padEnd(5)} ${(n.overlay ?? '-').padEnd(31)} ${(n.underlay + (n.gateway ? '*' : '')).padEnd(15)} ${daemon.padEnd(9)} ${peers.padEnd(17)} ${tunnels}${via && !n.tunnels ? via : ''}`,
    );
    if (n.deadPeers && n.deadPeers.length > 0) {
      lines.push(`      dead: ${n.deadPeers.map((d) => `${name(d.prefix)}${d.reason ? ` (${d.reason})` : ''}`).join(', ')}`);
    }
    if (n.error) lines.push(`      ${n.error}`);
  }
  if (status.nodes.some((n) => n.gateway)) lines.push('(* behind a NAT router)');
  const names = status.nodes.filter((n) => n.overlay).map((n) => n.name);
  if (names.length > 0 && Object.keys(status.reachability.matrix).length > 0) {
    lines.push('');
    lines.push(`reachability: ${status.reachability.reached}/${status.reachability.pairs} pairs`);
    lines.push(renderMatrix(status.reachability.matrix, names));
  }
  return `${lines.join('\n')}\n`;
}
