// The control API between the daemon and the `resilnet` CLI: HTTP/1.1 + JSON on
// a Unix socket (mode 0600). These types are the whole contract; `--json` in the
// CLI prints them unchanged. Try it by hand:
//   curl --unix-socket /run/resilnet/control.sock http://resilnet/v1/help
import type { EventLine } from '../events.js';
import type { LanStatus } from '../lan/discovery.js';
import type { NetcheckReport } from '../nat/netcheck.js';

export type NatStatus = NetcheckReport;

export const CONTROL_API_PREFIX = '/v1';

/** Error codes of the control API, with the HTTP status each maps to. */
export const CONTROL_ERROR_STATUS = {
  RN_CONTROL_NOT_FOUND: 404,
  RN_CONTROL_METHOD: 405,
  RN_CONTROL_BAD_REQUEST: 400,
  RN_CONTROL_INTERNAL: 500,
  RN_CONFIG_INVALID: 422,
  RN_DAEMON_NOT_READY: 503,
} as const satisfies Record<string, number>;

export function httpStatusForCode(code: string): number {
  return (CONTROL_ERROR_STATUS as Record<string, number>)[code] ?? 500;
}

export interface ControlErrorBody {
  error: { code: string; message: string; hint?: string };
}

// ---- help --------------------------------------------------------------

export interface HelpEntry {
  name: string;
  method: 'GET' | 'POST';
  path: string;
  description: string;
  /** Query parameters (GET) or body fields (POST) it accepts. */
  params: Record<string, string>;
}
export interface HelpResponse {
  commands: HelpEntry[];
}

// ---- status ------------------------------------------------------------

export interface HealthView {
  code: string;
  title: string;
  severity: string;
  text: string;
  sinceMs: number;
}

export interface StatusResponse {
  prefix: string;
  /** PREFIX::1, the node's overlay address. */
  address: string;
  networkPrefix: string;
  pid: number;
  startedAtMs: number;
  uptimeSec: number;
  certificate: { serial: string; notAfterMs: number };
  networkConfig: {
    version: number;
    /** What babeld runs now (the local override when set, else the network's, once applied). */
    helloIntervalSec: number;
    clientCount: number;
    maxClients: number;
    tunnelRefreshSec: number;
    source: string;
  };
  peers: { total: number; live: number; dead: number };
  tunnels: { outgoing: number; incoming: number; connecting: number };
  babeld: {
    running: boolean;
    pid: number | null;
    routes: number;
    neighbours: number;
    /** The hello interval babeld confirmed on every interface; null while unconfirmed or mixed. */
    helloIntervalSec: number | null;
    desiredHelloIntervalSec: number;
    /** Whether babeld answered its last statement or check. */
    answering: boolean;
    /** Statements the daemon keeps re-sending until babeld runs them. */
    pending: string[];
  };
  registry: { url: string; lastContactMs: number | null; lastError: string | null };
  /** sentMac/acceptedMac: frames authenticated by a link MAC instead of a signature; linkKeys: link keys held. */
  peerProtocol: {
    port: number; received: number; sent: number; dropped: number; sentMac: number; acceptedMac: number; linkKeys: number;
    /** Frames refused, by reason (daemon/peerproto/protocol.ts Refusal); only reasons seen. */
    refusals: Record<string, number>;
    /** Challenges sent to first-contact hellos from addresses not yet proved, and addresses proved. */
    challengesSent: number;
    endpointsConfirmed: number;
  };
  /** What this node announces to peers (best first), the UPnP mapping, and the address the registry saw. */
  underlay: {
    addresses: { address: string; kind: string }[];
    upnp: { externalIp: string; ports: number[] } | null;
    seenAddress: string | null;
  };
  /** NAT class with its evidence (daemon/nat/); null before the daemon is up. */
  nat: NatStatus | null;
  /**
   * Link liveness per tunnel: waiting (nothing heard yet), alive, lost. lastHelloMs: last time anything
   * came from the peer over the tunnel; flaps: how often the link was lost and restored; helloEveryMs: how
   * often we send hellos on it now (null before the first); helloSlowed: that is longer than the interval
   * because this host or the peer runs late (both absent from older daemons); beats: the link carries bare
   * beats instead of most signed hellos, both ends counting each other's packets (absent from older daemons);
   * closely: the link carries our traffic and the peer beats fast to us, so its silence is a verdict after a
   * fifth of the usual deadline (absent from older daemons); deadlineMs: the silence after which the live
   * link is lost now, before any widening for late timers (idle links: the usual deadline times
   * tunnels.link_idle_pace; null unless alive; absent from older daemons).
   */
  links: { peer: string; interface: string; state: 'waiting' | 'alive' | 'lost'; lastHelloMs: number | null; lostSinceMs: number | null; flaps: number; helloEveryMs?: number | null; helloSlowed?: boolean; beats?: boolean; closely?: boolean; deadlineMs?: number | null }[];
  /** LAN discovery (lan.interfaces): what is announced where, neighbours heard, announcements ignored by reason; null when off. */
  lan: LanStatus | null;
  health: HealthView[];
}

// ---- peers -------------------------------------------------------------

export interface PeersRequest {
  /** Only dead peers. */
  dead: boolean;
}

export interface PeerView {
  prefix: string;
  addresses: string[];
  source: string;
  firstSeenMs: number | null;
  lastSeenMs: number | null;
  lastSuccessMs: number | null;
  failures: number;
  dead: boolean;
  deadReason: string | null;
  /** Why it is dead: failed attempts (retried on a long backoff) or a revoked certificate (never retried). */
  deadCause: 'failures' | 'revoked' | null;
  deadSinceMs: number | null;
  nextRetryMs: number | null;
  rttMs: number | null;
  /** A tunnel to this peer is open now. */
  adjacent: boolean;
  /** How our traffic to it goes now, and why not by a direct tunnel (absent when read from the peer DB offline). */
  path?: PeerPath;
}

export interface PeerPath {
  /** direct: our tunnel with it is up; via: through the tunnel to `via`; none: babel has no route. */
  kind: 'direct' | 'via' | 'none';
  via: string | null;
  why: string;
}

export interface PeersResponse {
  peers: PeerView[];
}

// ---- tunnels -----------------------------------------------------------

export type TunnelDirection = 'outgoing' | 'incoming';
export type TunnelState = 'connecting' | 'up' | 'draining';

export interface TunnelView {
  peer: string;
  direction: TunnelDirection;
  interface: string;
  state: TunnelState;
  /** The far end on the underlay, "IP:PORT" (server side: the client's address once known). */
  remote: string | null;
  openedAtMs: number;
  ageSec: number;
  rxBytesPerSec: number;
  txBytesPerSec: number;
  /** Babel routes installed through this tunnel. */
  routes: number;
  score: number | null;
  protected: boolean;
  pid: number | null;
  /** How often link liveness saw this tunnel lost and restored (absent: not watched). */
  flaps?: number;
}

/** Traffic we exchange with one destination prefix (ours and forwarded), EWMA bytes/s. */
export interface DestinationTrafficView {
  prefix: string;
  rxBytesPerSec: number;
  txBytesPerSec: number;
  /** The peer whose tunnel carries our route to it now, or null. */
  via: string | null;
}

export interface TunnelsResponse {
  tunnels: TunnelView[];
  /** Busiest first; absent when the daemon cannot measure it (no nftables). */
  destinations?: DestinationTrafficView[];
}

// ---- events ------------------------------------------------------------

export interface EventsRequest {
  limit: number;
}
export type EventView = EventLine;
export interface EventsResponse {
  events: EventView[];
  /** Older lines that fell out of the bounded log. */
  dropped: number;
}

// ---- reload ------------------------------------------------------------

export type ReloadAction = 'apply-live' | 'restart-required';

export interface ReloadItem {
  /** Config key as written in resilnet.toml, e.g. `babel.hello_interval`. */
  key: string;
  from: unknown;
  to: unknown;
  action: ReloadAction;
  /** What applying it does, or why it needs a restart. */
  note: string;
}

/** A change that is not in force; the message says so and that the old value still is. */
export interface ReloadProblem {
  key: string;
  code: string;
  message: string;
}

export interface ReloadReport {
  path: string;
  /** Keys changed and applied to the running daemon. */
  applied: ReloadItem[];
  /** Keys sent to a part that has not confirmed yet (e.g. a slow babeld); it keeps trying. Absent from older daemons. */
  pending?: ReloadProblem[];
  /** Keys changed that only take effect after a restart; nothing was done for them. */
  skipped: ReloadItem[];
  /** Keys a part refused; the old value stays in force. */
  failed: ReloadProblem[];
}

export type ReloadResponse = ReloadReport;

// ---- routes ------------------------------------------------------------

export const CONTROL_ROUTES = {
  help: { method: 'GET', path: `${CONTROL_API_PREFIX}/help` },
  status: { method: 'GET', path: `${CONTROL_API_PREFIX}/status` },
  peers: { method: 'GET', path: `${CONTROL_API_PREFIX}/peers` },
  tunnels: { method: 'GET', path: `${CONTROL_API_PREFIX}/tunnels` },
  events: { method: 'GET', path: `${CONTROL_API_PREFIX}/events` },
  reload: { method: 'POST', path: `${CONTROL_API_PREFIX}/reload` },
} as const;

export type ControlCommandName = keyof typeof CONTROL_ROUTES;

export const DEFAULT_EVENTS_LIMIT = 100;
export const MAX_EVENTS_LIMIT = 10_000;

/** Strict query parsing shared by server and tests: unknown parameters are refused. */
export function parseQuery(
  query: URLSearchParams,
  allowed: readonly string[],
): { ok: true; values: Record<string, string> } | { ok: false; message: string } {
  const values: Record<string, string> = {};
  for (const [k, v] of query) {
    if (!allowed.includes(k)) {
      const known = allowed.length ? `accepted: ${allowed.join(', ')}` : 'it takes none';
      return { ok: false, message: `unknown parameter "${k}" (${known})` };
    }
    values[k] = v;
  }
  return { ok: true, values };
}

export function parsePeersRequest(query: URLSearchParams): PeersRequest | { error: string } {
  const q = parseQuery(query, ['dead']);
  if (!q.ok) return { error: q.message };
  const dead = q.values.dead;
  if (dead === undefined || dead === '' || dead === '0' || dead === 'false') return { dead: dead === '' };
  if (dead === '1' || dead === 'true') return { dead: true };
  return { error: `dead must be 1/true or 0/false (got "${dead}")` };
}

export function parseEventsRequest(query: URLSearchParams): EventsRequest | { error: string } {
  const q = parseQuery(query, ['limit']);
  if (!q.ok) return { error: q.message };
  if (q.values.limit === undefined) return { limit: DEFAULT_EVENTS_LIMIT };
  const limit = Number(q.values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_EVENTS_LIMIT) {
    return { error: `limit must be an integer 1…${MAX_EVENTS_LIMIT} (got "${q.values.limit}")` };
  }
  return { limit };
}
