// The status page as one self-contained HTML document: inline CSS, a
// server-rendered SVG of the topology, and a small inline script that fetches
// the page again every few seconds and swaps the #status section in place.
// Pure: snapshot in, text out. Everything from the store goes through escapeHtml.
import { createHash } from 'node:crypto';
import type { StatusNodeView, StatusSnapshot } from '../service.js';
import { formatAgo, formatBytes, formatRtt } from './format.js';
import { buildTopology, type Topology, type TopologyEdge, type TopologyNode } from './topology.js';

export const REFRESH_MS = 5000;

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** For text and for quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => ESCAPES[ch]!);
}

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #1d2329; background: #fafbfc; }
h1 { font-size: 1.4em; margin: 0 0 .2em; } h2 { font-size: 1.1em; margin: 1.2em 0 .4em; }
.meta, #refresh { color: #57606a; margin: 0; } #refresh.failed { color: #b42318; font-weight: 600; }
table { border-collapse: collapse; background: #fff; } th, td { padding: .3em .7em; border-bottom: 1px solid #e4e7eb; text-align: left; vertical-align: top; }
th { background: #f0f2f5; font-weight: 600; } td.num { text-align: right; } code { font-size: .95em; }
ul.tunnels { margin: 0; padding: 0; list-style: none; color: #57606a; font-size: .9em; }
.state-online { color: #1a7f37; } .state-offline { color: #9a6700; } .state-never-seen { color: #6e7781; } .state-revoked { color: #b42318; }
svg { background: #fff; border: 1px solid #e4e7eb; max-width: 100%; height: auto; }
svg .edge path { fill: none; stroke: #6e7781; stroke-width: 1.5; } svg .edge.one-sided path { stroke-dasharray: 4 3; }
svg .edge text { font-size: 10px; fill: #444c56; paint-order: stroke; stroke: #fff; stroke-width: 3px; } svg .node text { font-size: 11px; fill: #1d2329; }
svg .node circle { stroke: #fff; stroke-width: 2; }
svg .node.state-online circle { fill: #2da44e; } svg .node.state-offline circle { fill: #d4a72c; }
svg .node.state-never-seen circle { fill: #8c959f; } svg .node.state-revoked circle { fill: #cf222e; }
svg text.empty { font-size: 14px; fill: #6e7781; }
`;

const SCRIPT = `
(() => {
  const note = document.getElementById('refresh');
  const stamp = () => new Date().toLocaleTimeString();
  async function tick() {
    try {
      const res = await fetch(location.pathname, { cache: 'no-store', credentials: 'same-origin' });
      if (!res.ok) throw new Error('HTTP ' + res.status);
      const next = new DOMParser().parseFromString(await res.text(), 'text/html').getElementById('status');
      if (!next) throw new Error('the answer has no status section');
      document.getElementById('status').replaceWith(document.importNode(next, true));
      note.textContent = 'updated ' + stamp() + '; refreshes every ${REFRESH_MS / 1000} s';
      note.className = '';
    } catch (err) {
      note.textContent = 'refresh failed at ' + stamp() + ' (' + err.message + '); trying again in ${REFRESH_MS / 1000} s';
      note.className = 'failed';
    } finally {
      setTimeout(tick, ${REFRESH_MS});
    }
  }
  setTimeout(tick, ${REFRESH_MS});
})();
`;

const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/** Only the page's own inline style and script run; it may fetch itself and nothing else. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `style-src ${sha256(STYLE)}`,
  `script-src ${sha256(SCRIPT)}`,
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const num = (v: number) => (Math.round(v * 10) / 10).toString();

function edgeSvg(e: TopologyEdge, from: TopologyNode, to: TopologyNode): string {
  // A quadratic curve bent to the client's left: the two tunnels of a pair separate.
  const dx = to.x - from.x;
  const dy = to.y - from.y;
  const bend = 0.12;
  const cx = (from.x + to.x) / 2 - dy * bend;
  const cy = (from.y + to.y) / 2 + dx * bend;
  const mx = 0.25 * from.x + 0.5 * cx + 0.25 * to.x;
  const my = 0.25 * from.y + 0.5 * cy + 0.25 * to.y;
  const label = `${formatRtt(e.rttMs)} · ${formatBytes(e.bytes)}`;
  const oneSided = e.reportedBy.length < 2 ? ' one-sided' : '';
  const title = `${e.client} → ${e.server} (client → server); RTT ${formatRtt(e.rttMs)}; ${formatBytes(e.bytes)} exchanged; reported by ${e.reportedBy.join(' and ')}`;
  return (
    `<g class="edge${oneSided}" data-client="${escapeHtml(e.client)}" data-server="${escapeHtml(e.server)}">` +
    `<title>${escapeHtml(title)}</title>` +
    `<path d="M${num(from.x)} ${num(from.y)} Q${num(cx)} ${num(cy)} ${num(to.x)} ${num(to.y)}"/>` +
    `<text x="${num(mx)}" y="${num(my)}" text-anchor="middle">${escapeHtml(label)}</text></g>`
  );
}

function nodeSvg(n: TopologyNode): string {
  const label = n.prefix.replace(/\/\d+$/, '');
  return (
    `<g class="node state-${escapeHtml(n.state)}" data-prefix="${escapeHtml(n.prefix)}">` +
    `<title>${escapeHtml(`${n.prefix} (${n.state})`)}</title>` +
    `<circle cx="${num(n.x)}" cy="${num(n.y)}" r="8"/>` +
    `<text x="${num(n.labelX)}" y="${num(n.labelY)}" text-anchor="${n.anchor}">${escapeHtml(label)}</text></g>`
  );
}

export function renderTopologySvg(topo: Topology): string {
  const at = new Map(topo.nodes.map((n) => [n.prefix, n]));
  const edges = topo.edges.map((e) => edgeSvg(e, at.get(e.client)!, at.get(e.server)!)).join('');
  const empty =
    topo.nodes.length === 0
      ? `<text class="empty" x="${topo.width / 2}" y="${topo.height / 2}" text-anchor="middle">no nodes registered yet</text>`
      : topo.edges.length === 0
        ? `<text class="empty" x="${topo.width / 2}" y="${topo.height / 2}" text-anchor="middle">no tunnels reported</text>`
        : '';
  return (
    `<svg id="topology" xmlns="http://www.w3.org/2000/svg" width="${topo.width}" height="${topo.height}" viewBox="0 0 ${topo.width} ${topo.height}" role="img" aria-label="tunnel topology">` +
    `<g class="edges">${edges}</g><g class="nodes">${topo.nodes.map(nodeSvg).join('')}</g>${empty}</svg>`
  );
}

function tunnelItems(n: StatusNodeView): string {
  if (n.tunnel_list.length === 0) return '';
  const items = n.tunnel_list.map((t) => {
    const arrow = t.role === 'client' ? '→' : '←';
    return `<li>${arrow} ${escapeHtml(t.peer)} · ${escapeHtml(formatRtt(t.rtt_ms))} · ${escapeHtml(formatBytes(t.rx_bytes + t.tx_bytes))}</li>`;
  });
  return `<ul class="tunnels">${items.join('')}</ul>`;
}

function nodeRow(n: StatusNodeView, nowMs: number): string {
  const cell = (text: string, cls = '') => `<td${cls ? ` class="${cls}"` : ''}>${escapeHtml(text)}</td>`;
  const seen = n.seen_address === null ? '-' : n.port === null ? n.seen_address : `${n.seen_address} (port ${n.port})`;
  return (
    `<tr data-prefix="${escapeHtml(n.prefix)}">` +
    `<td><code>${escapeHtml(n.prefix)}</code></td>` +
    cell(n.state, `state state-${escapeHtml(n.state)}`) +
    `<td title="${escapeHtml(n.last_seen ?? 'never')}">${escapeHtml(formatAgo(n.last_seen, nowMs))}</td>` +
    cell(seen) +
    cell(n.nat_class ?? '-', 'nat') +
    `<td class="tunnel-count">${n.tunnels}${tunnelItems(n)}</td>` +
    cell(n.revoked_at === null ? n.expires_at : `revoked ${n.revoked_at}`) +
    '</tr>'
  );
}

function nodesTable(snap: StatusSnapshot, nowMs: number): string {
  if (snap.nodes.length === 0) return '<p class="empty">No nodes registered yet. Add a token with <code>resilnet registry token add</code> and register a host.</p>';
  return (
    '<table id="nodes"><thead><tr><th>Prefix</th><th>State</th><th>Last seen</th><th>Seen from</th><th>NAT</th><th>Tunnels</th><th>Certificate expires</th></tr></thead>' +
    `<tbody>${snap.nodes.map((n) => nodeRow(n, nowMs)).join('')}</tbody></table>`
  );
}

function summary(snap: StatusSnapshot, topo: Topology): string {
  const online = snap.nodes.filter((n) => n.state === 'online').length;
  const parts = [
    `network ${snap.network_prefix}`,
    `${snap.total_nodes} node${snap.total_nodes === 1 ? '' : 's'} registered, ${online} online (heard from within ${snap.offline_after_sec} s)`,
    `${topo.edges.length} tunnel${topo.edges.length === 1 ? '' : 's'} drawn`,
    `generated ${snap.generated_at}`,
  ];
  const notes: string[] = [];
  if (snap.nodes.length < snap.total_nodes) notes.push(`listing ${snap.nodes.length} of ${snap.total_nodes} nodes (unrevoked and most recently seen first); \`resilnet registry nodes\` lists all`);
  if (topo.notDrawn.nodes > 0) notes.push(`${topo.notDrawn.nodes} listed node(s) not drawn`);
  if (topo.notDrawn.edges > 0) notes.push(`${topo.notDrawn.edges} reported tunnel(s) not drawn (an end not drawn or unknown here)`);
  return `<p class="meta">${escapeHtml(parts.join(' · '))}</p>${notes.map((n) => `<p class="meta">${escapeHtml(n)}</p>`).join('')}`;
}

export function renderStatusPage(snap: StatusSnapshot, nowMs: number): string {
  const topo = buildTopology(snap.nodes);
  return [
    '<!doctype html><html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>resilnet registry · ${escapeHtml(snap.network_prefix)}</title><style>${STYLE}</style></head><body>`,
    '<h1>resilnet registry</h1>',
    `<p id="refresh">refreshes every ${REFRESH_MS / 1000} s</p>`,
    `<main id="status">${summary(snap, topo)}`,
    `<h2>Tunnel topology</h2>${renderTopologySvg(topo)}`,
    `<h2>Nodes</h2>${nodesTable(snap, nowMs)}</main>`,
    `<script>${SCRIPT}</script></body></html>\n`,
  ].join('');
}
