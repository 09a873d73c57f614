// Pure renderers of the control API's responses for `resilnet status|peers|
// tunnels|events|reload`. `--json` bypasses them and prints the response as is.
import type {
  DestinationTrafficView,
  EventsResponse,
  PeersResponse,
  PeerView,
  ReloadReport,
  StatusResponse,
  TunnelsResponse,
} from '../../daemon/control/protocol.js';
import { renderLanStatus } from './lan-render.js';

export function renderTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return `${[line(headers), ...rows.map(line)].join('\n')}\n`;
}

/** "3.1 s", "4 min", "2 h 5 min", "3 d". */
export function formatDurationMs(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 90) return `${Math.round(s)} s`;
  const min = Math.round(s / 60);
  if (min < 90) return `${min} min`;
  const h = Math.floor(s / 3600);
  if (h < 48) return `${h} h ${Math.round((s - h * 3600) / 60)} min`;
  return `${Math.round(h / 24)} d`;
}

export function formatAgo(atMs: number | null, nowMs: number): string {
  if (atMs === null) return '-';
  return atMs > nowMs ? `in ${formatDurationMs(atMs - nowMs)}` : `${formatDurationMs(nowMs - atMs)} ago`;
}

export function formatRate(bytesPerSec: number): string {
  if (bytesPerSec < 1000) return `${Math.round(bytesPerSec)} B/s`;
  if (bytesPerSec < 1e6) return `${(bytesPerSec / 1e3).toFixed(1)} kB/s`;
  return `${(bytesPerSec / 1e6).toFixed(1)} MB/s`;
}

export function renderStatus(s: StatusResponse, nowMs: number): string {
  const nc = s.networkConfig;
  const lines = [
    `node         ${s.prefix} (address ${s.address})`,
    `network      ${s.networkPrefix}, config version ${nc.version} (${nc.source})`,
    `settings     hello ${nc.helloIntervalSec} s, ${nc.clientCount} outgoing, up to ${nc.maxClients} incoming, re-plan every ${nc.tunnelRefreshSec} s`,
    `daemon       pid ${s.pid}, up ${formatDurationMs(s.uptimeSec * 1000)}`,
    `certificate  serial ${s.certificate.serial}, expires ${new Date(s.certificate.notAfterMs).toISOString()} (${formatAgo(s.certificate.notAfterMs, nowMs)})`,
    `peers        ${s.peers.total} known, ${s.peers.live} live, ${s.peers.dead} dead`,
    `tunnels      ${s.tunnels.outgoing} outgoing, ${s.tunnels.incoming} incoming, ${s.tunnels.connecting} connecting`,
    `babeld       ${s.babeld.running ? `running (pid ${s.babeld.pid ?? '?'})` : 'not running'}, ${s.babeld.routes} routes, ${s.babeld.neighbours} neighbours${babeldState(s.babeld)}`,
    `registry     ${s.registry.url}, last contact ${formatAgo(s.registry.lastContactMs, nowMs)}${s.registry.lastError ? ` (last error: ${s.registry.lastError})` : ''}`,
    `peer proto   udp ${s.peerProtocol.port}: ${s.peerProtocol.received} in, ${s.peerProtocol.sent} out, ${s.peerProtocol.dropped} dropped; ${s.peerProtocol.sentMac} out and ${s.peerProtocol.acceptedMac} in by link MAC (${s.peerProtocol.linkKeys} link keys)`,
    ...refusalLines(s.peerProtocol.refusals),
    `underlay     ${s.underlay.addresses.map((a) => `${a.address} (${a.kind})`).join(', ') || 'no address known'}${s.underlay.upnp ? `; UPnP external ${s.underlay.upnp.externalIp}` : ''}`,
  ];
  if (s.lan) lines.push(renderLanStatus(s.lan));
  if (s.nat) lines.push(`nat          ${s.nat.natClass}: ${s.nat.summary}`, ...s.nat.evidence.map((e) => `               - ${e}`));
  const lost = s.links.filter((l) => l.state === 'lost');
  if (lost.length) lines.push(`links        lost: ${lost.map((l) => `${l.peer} (${formatAgo(l.lostSinceMs, nowMs)}${l.flaps ? `, flaps: ${l.flaps}` : ''})`).join(', ')}`);
  const flapping = s.links.filter((l) => l.state !== 'lost' && l.flaps > 0);
  if (flapping.length) lines.push(`links        flapped: ${flapping.map((l) => `${l.peer} (${l.flaps})`).join(', ')}`);
  const slowed = slowedHellos(s.links);
  if (slowed) lines.push(`links        ${slowed}`);
  if (s.health.length === 0) lines.push('health       ok');
  for (const h of s.health) lines.push(`health       [${h.severity}] ${h.title}: ${h.text} (${h.code}, since ${formatAgo(h.sinceMs, nowMs)})`);
  return `${lines.join('\n')}\n`;
}

/**
 * "hellos slowed on 3 of 5 links, to 0.80-1.30 s (…)" while link hellos go out less often because this host or
 * the peer runs late; undefined when none is slowed (or the daemon does not say).
 */
export function slowedHellos(links: StatusResponse['links']): string | undefined {
  const slowed = links.filter((l) => l.helloSlowed === true && typeof l.helloEveryMs === 'number').map((l) => l.helloEveryMs!);
  if (slowed.length === 0) return undefined;
  const [least, most] = [Math.min(...slowed), Math.max(...slowed)].map((ms) => (ms / 1000).toFixed(2));
  const range = least === most ? `${least} s` : `${least}-${most} s`;
  return `hellos slowed on ${slowed.length} of ${links.length} links, to one every ${range} (this host or those peers run late)`;
}

/** Why a peer is dead: 'failures' (retried at NEXT RETRY, revived by any sign of life) or 'revoked' (final). */
export type PeerDeadCause = 'failures' | 'revoked';

/** A peer as a daemon reports it; daemons before dead-peer retries send no `deadCause`. */
export type PeerRow = PeerView & { deadCause?: PeerDeadCause | null };

export function renderPeers(res: { peers: readonly PeerRow[] }, options: { dead: boolean }, nowMs: number): string {
  if (res.peers.length === 0) return options.dead ? 'no dead peers\n' : 'no peers known yet\n';
  if (options.dead) {
    // The CAUSE column only when the daemon reports causes (an older one does not).
    const withCause = res.peers.some((p) => p.deadCause !== undefined);
    return renderTable(
      ['PEER', ...(withCause ? ['CAUSE'] : []), 'REASON', 'SINCE', 'FAILURES', 'NEXT RETRY'],
      res.peers.map((p) => [
        p.prefix,
        ...(withCause ? [p.deadCause ?? '-'] : []),
        p.deadReason ?? '-',
        formatAgo(p.deadSinceMs, nowMs),
        String(p.failures),
        formatNextRetry(p, nowMs),
      ]),
    );
  }
  // PATH and WHY only when the daemon answered (the offline peer-DB view cannot know them).
  const withPath = res.peers.some((p) => p.path !== undefined);
  return renderTable(
    ['PEER', 'STATE', 'ADDRESSES', 'SOURCE', 'LAST SEEN', 'FAILURES', 'RTT', ...(withPath ? ['PATH', 'WHY NOT DIRECT'] : [])],
    res.peers.map((p) => [
      p.prefix,
      peerState(p),
      p.addresses.join(',') || '-',
      p.source,
      formatAgo(p.lastSeenMs, nowMs),
      String(p.failures),
      p.rttMs === null ? '-' : `${p.rttMs.toFixed(1)} ms`,
      ...(withPath ? [pathText(p.path), p.path && p.path.kind !== 'direct' ? p.path.why : '-'] : []),
    ]),
  );
}

function pathText(path: PeerView['path']): string {
  if (path === undefined) return '-';
  return path.kind === 'direct' ? 'direct' : path.kind === 'via' ? `via ${path.via}` : 'no route';
}

/** "in 8 min"; "due now" once the time has come (the next retry round takes it); "never" for a revoked peer. */
export function formatNextRetry(p: PeerRow, nowMs: number): string {
  if (p.deadCause === 'revoked') return 'never';
  if (p.nextRetryMs === null) return '-';
  return p.nextRetryMs <= nowMs ? 'due now' : formatAgo(p.nextRetryMs, nowMs);
}

function peerState(p: PeerView): string {
  if (p.dead) return 'dead';
  if (p.adjacent) return 'tunnel';
  return 'known';
}

/** Destinations the text output lists at most; `--json` has them all. */
export const MAX_DESTINATION_ROWS = 10;

/** The tunnels table, then (when the daemon measures it) our traffic per destination. */
export function renderTunnels(res: TunnelsResponse): string {
  // FLAPS (link lost and restored) when the daemon reports it; '-' for a tunnel liveness does not watch yet.
  const withFlaps = res.tunnels.some((t) => t.flaps !== undefined);
  const tunnels = res.tunnels.length === 0
    ? 'no tunnels\n'
    : renderTable(
      ['PEER', 'DIR', 'INTERFACE', 'STATE', 'AGE', 'RX', 'TX', 'ROUTES', 'SCORE', ...(withFlaps ? ['FLAPS'] : [])],
      res.tunnels.map((t) => [
        t.peer,
        t.direction === 'outgoing' ? 'out' : 'in',
        t.interface,
        t.protected ? `${t.state}*` : t.state,
        formatDurationMs(t.ageSec * 1000),
        formatRate(t.rxBytesPerSec),
        formatRate(t.txBytesPerSec),
        String(t.routes),
        t.score === null ? '-' : t.score.toFixed(2),
        ...(withFlaps ? [t.flaps === undefined ? '-' : String(t.flaps)] : []),
      ]),
    );
  return res.destinations === undefined ? tunnels : `${tunnels}\n${renderDestinations(res.destinations)}`;
}

/** Busiest first as the daemon sorts them; idle ones are left out. VIA: the peer whose tunnel carries our route there. */
export function renderDestinations(destinations: readonly DestinationTrafficView[]): string {
  const busy = destinations.filter((d) => d.rxBytesPerSec + d.txBytesPerSec > 0);
  if (busy.length === 0) return 'no traffic to other nodes measured\n';
  const shown = busy.slice(0, MAX_DESTINATION_ROWS);
  const table = renderTable(
    ['DESTINATION', 'RX', 'TX', 'VIA'],
    shown.map((d) => [d.prefix, formatRate(d.rxBytesPerSec), formatRate(d.txBytesPerSec), d.via ?? '-']),
  );
  const more = busy.length - shown.length;
  return more > 0 ? `${table}(${more} more; resilnet tunnels --json lists all)\n` : table;
}

export function renderEvents(res: EventsResponse): string {
  if (res.events.length === 0) return 'no events yet\n';
  const lines = res.events.map((e) => `${new Date(e.atMs).toISOString()}  ${e.text}`);
  if (res.dropped > 0) lines.unshift(`(${res.dropped} older lines dropped)`);
  return `${lines.join('\n')}\n`;
}

export function renderReload(r: ReloadReport): string {
  const show = (v: unknown) => (v === null || v === undefined ? '(unset)' : JSON.stringify(v));
  const lines: string[] = [];
  for (const i of r.applied) lines.push(`applied  ${i.key}: ${show(i.from)} -> ${show(i.to)} (${i.note})`);
  for (const i of r.skipped) lines.push(`restart  ${i.key}: ${show(i.from)} -> ${show(i.to)} (${i.note})`);
  for (const p of r.pending ?? []) lines.push(`PENDING  ${p.key}: ${p.message} (${p.code})`);
  for (const f of r.failed) lines.push(`FAILED   ${f.key}: ${f.message} (${f.code})`);
  if (lines.length === 0) lines.push(`nothing changed in ${r.path}`);
  return `${lines.join('\n')}\n`;
}

export interface ConfigCheckResult {
  path: string;
  ok: boolean;
  problems: Array<{ key: string; reason: string }>;
}

export function renderConfigCheck(r: ConfigCheckResult): string {
  if (r.ok) return `${r.path}: ok\n`;
  return `${r.problems.map((p) => `${r.path}: ${p.key}: ${p.reason}`).join('\n')}\n`;
}

/** What babeld is behind on, if anything: unanswered, or statements still being re-sent. */
function babeldState(b: StatusResponse['babeld']): string {
  if (!b.running) return '';
  if (!b.answering) return `; not answering (the daemon keeps trying: ${b.pending.length} statement(s) pending)`;
  if (b.pending.length || b.helloIntervalSec !== b.desiredHelloIntervalSec) return `; applying hello ${b.desiredHelloIntervalSec} s (${b.pending.length} statement(s) pending)`;
  return '';
}

/** Refused frames by reason, most first; nothing when none was refused. */
function refusalLines(refusals: Record<string, number> | undefined): string[] {
  const seen = Object.entries(refusals ?? {}).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
  return seen.length === 0 ? [] : [`               refused: ${seen.map(([why, n]) => `${why} ${n}`).join(', ')}`];
}
