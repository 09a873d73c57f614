// The tunnel topology drawn on the status page, from the tunnels each node
// listed in its last heartbeat. Pure: nodes → positions on a circle, tunnels →
// edges. Both ends of a tunnel report it (one as client, one as server); the
// two reports are one edge, keyed by (client, server), so a pair with a tunnel
// each way has two edges, bent to opposite sides.
import type { NodeView, StatusNodeView } from '../service.js';

/** Circles drawn at most; more nodes are listed in the table but not drawn. */
export const MAX_DRAWN_NODES = 200;
/** Edges drawn at most (a heartbeat lists up to 512 tunnels). */
export const MAX_DRAWN_EDGES = 1000;

export interface TopologyNode {
  prefix: string;
  state: NodeView['state'];
  x: number;
  y: number;
  /** Where the label goes: outside the circle, away from the centre. */
  labelX: number;
  labelY: number;
  anchor: 'start' | 'end';
}

export interface TopologyEdge {
  client: string;
  server: string;
  /** The client's RTT when it reported one, else the server's; null when neither did. */
  rttMs: number | null;
  /** rx + tx as its reporter counted them (the larger of the two reports). */
  bytes: number;
  /** Which ends listed the tunnel in their last heartbeat. */
  reportedBy: ('client' | 'server')[];
}

export interface Topology {
  width: number;
  height: number;
  nodes: TopologyNode[];
  edges: TopologyEdge[];
  /** Nodes listed but not drawn (over MAX_DRAWN_NODES), and edges left out (an end not drawn or unknown, or over MAX_DRAWN_EDGES). */
  notDrawn: { nodes: number; edges: number };
}

const MARGIN = 150; // room for prefix labels around the circle
const MIN_RADIUS = 140;
const SPACING = 36; // arc length per node

export function edgeKey(client: string, server: string): string {
  return `${client}>${server}`;
}

function mergeEdges(nodes: readonly StatusNodeView[]): Map<string, TopologyEdge> {
  const edges = new Map<string, TopologyEdge>();
  for (const n of nodes) {
    for (const t of n.tunnel_list) {
      const [client, server] = t.role === 'client' ? [n.prefix, t.peer] : [t.peer, n.prefix];
      const key = edgeKey(client, server);
      const bytes = t.rx_bytes + t.tx_bytes;
      const e = edges.get(key);
      if (!e) {
        edges.set(key, { client, server, rttMs: t.rtt_ms, bytes, reportedBy: [t.role] });
        continue;
      }
      if (!e.reportedBy.includes(t.role)) e.reportedBy.push(t.role);
      if (t.rtt_ms !== null && (e.rttMs === null || t.role === 'client')) e.rttMs = t.rtt_ms;
      e.bytes = Math.max(e.bytes, bytes);
    }
  }
  return edges;
}

export function buildTopology(listed: readonly StatusNodeView[]): Topology {
  const drawn = listed.slice(0, MAX_DRAWN_NODES);
  const radius = Math.max(MIN_RADIUS, (drawn.length * SPACING) / (2 * Math.PI));
  const size = Math.round(2 * (radius + MARGIN));
  const c = size / 2;
  const nodes = drawn.map((n, i): TopologyNode => {
    // Start at the top, go clockwise.
    const a = (2 * Math.PI * i) / drawn.length - Math.PI / 2;
    const cos = Math.cos(a);
    const sin = Math.sin(a);
    return {
      prefix: n.prefix,
      state: n.state,
      x: c + radius * cos,
      y: c + radius * sin,
      labelX: c + (radius + 14) * cos,
      labelY: c + (radius + 14) * sin + 4,
      anchor: cos < -1e-9 ? 'end' : 'start',
    };
  });
  const at = new Set(nodes.map((n) => n.prefix));
  const all = [...mergeEdges(listed).values()];
  const drawable = all.filter((e) => at.has(e.client) && at.has(e.server) && e.client !== e.server);
  const edges = drawable.slice(0, MAX_DRAWN_EDGES);
  return {
    width: size,
    height: size,
    nodes,
    edges,
    notDrawn: { nodes: listed.length - drawn.length, edges: all.length - edges.length },
  };
}
