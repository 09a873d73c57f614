// The node's peer DB: the only module with SQL for the node. Peers by prefix
// with addresses, where we learned them, failure/backoff state and a persistent
// dead flag; plus the cached signed network config. Every method takes `nowMs`
// (no clock reads here); the state changes themselves are pure functions
// (below, and the retry policy in retry-policy.ts).
import Database from 'better-sqlite3';
import { ResilnetError } from '../../config/errors.js';
import { canonicalPrefix } from '../../config/ipv6.js';
import type { SignedNetworkConfig } from '../../config/network-config.js';
import { applyBusy, applyFailure, DEFAULT_PEER_POLICY, LIVE_STATE, type DeadCause, type FailureState, type PeerPolicy } from './retry-policy.js';
import { migrate } from './schema.js';

export { applyFailure, classifyPeer, DEFAULT_PEER_POLICY, LIVE_STATE, retryDelayMs } from './retry-policy.js';
export type { DeadCause, FailureState, PeerPolicy } from './retry-policy.js';

/** The peer DB's file name in node.state_dir. */
export const PEER_DB_FILE = 'peers.db';

export type PeerSource = 'registry' | 'peer' | 'lan' | 'config';

export interface PeerRecord {
  prefix: string;
  /** "IP:PORT" (IPv6 in brackets), most useful first. */
  addresses: string[];
  source: PeerSource;
  firstSeenMs: number;
  lastSeenMs: number;
  /** Last time a tunnel with this peer came up. */
  lastSuccessMs: number | null;
  /** Consecutive failed attempts since the last success or proof of life. */
  failures: number;
  lastFailure: string | null;
  lastFailureMs: number | null;
  dead: boolean;
  deadSinceMs: number | null;
  /** e.g. "3 failed attempts (connection refused)". */
  deadReason: string | null;
  /** 'failures' (retried on a backoff, revived by any proof of life) or 'revoked' (final). */
  deadCause: DeadCause | null;
  /** No attempt before this time; for a peer dead of failures, its next retry. */
  retryAtMs: number;
  rttMs: number | null;
  certSerial: string | null;
}

export interface PeerDbOptions extends Partial<PeerPolicy> {
  /** Most peers kept; dead, then least recently seen, go first (default 1000). */
  maxPeers?: number;
  /** Jitter of dead-peer retries, in [0, 1) (default Math.random). */
  rand?: () => number;
}
export const MAX_ADDRESSES_PER_PEER = 8;

/** Higher wins when two sources report the same peer. */
const SOURCE_RANK: Record<PeerSource, number> = { peer: 0, lan: 1, registry: 2, config: 3 };

export interface UpsertPeer {
  prefix: string;
  /** Replaces the known list when non-empty. */
  addresses: string[];
  source: PeerSource;
  certSerial?: string;
}

// ---- pure state changes ---------------------------------------------------

/**
 * A proof of life (an authenticated packet, an incoming tunnel, the registry
 * saw it after our last failure): a peer dead of failures is alive again and a
 * backoff ends. A revoked peer stays dead. Null: nothing to change.
 */
export function applyProofOfLife(p: PeerRecord, nowMs: number): PeerRecord | null {
  if (p.dead && p.deadCause === 'revoked') return null;
  if (!p.dead && p.failures === 0 && p.retryAtMs <= nowMs) return null;
  return { ...p, ...LIVE_STATE, lastSeenMs: Math.max(p.lastSeenMs, nowMs) };
}

/** Merges a report into a known peer; new addresses revive a peer that died of failures. */
export function mergeReport(existing: PeerRecord, report: UpsertPeer, nowMs: number): { record: PeerRecord; revived: boolean } {
  const addresses = report.addresses.length > 0 ? normaliseAddresses(report.addresses) : existing.addresses;
  const changed = addresses.join(' ') !== existing.addresses.join(' ');
  const revive = changed && existing.dead && existing.deadCause === 'failures';
  const record: PeerRecord = {
    ...existing,
    addresses,
    source: SOURCE_RANK[report.source] > SOURCE_RANK[existing.source] ? report.source : existing.source,
    lastSeenMs: Math.max(existing.lastSeenMs, nowMs),
    certSerial: report.certSerial ?? existing.certSerial,
    ...(revive ? LIVE_STATE : {}),
  };
  return { record, revived: revive };
}

/**
 * lastSeenMs is kept to this grain: a report that only moves it by less is not
 * written (gossip hellos come from and go to each adjacent peer every 30 s, each a
 * transaction of three pages on disk; readers ask "seen in the last minutes": the
 * planner's island test within 10 minutes, eviction, the peers view).
 */
export const LAST_SEEN_GRAIN_MS = 60_000;

/** A grain has passed since the stored lastSeenMs: the new one is worth a write of its own. */
export function lastSeenDue(storedMs: number, seenMs: number): boolean {
  return seenMs - storedMs >= LAST_SEEN_GRAIN_MS;
}

/** False when the merged record differs from the stored one only by a lastSeenMs less than a grain later. */
export function worthWriting(existing: PeerRecord, merged: PeerRecord): boolean {
  if (lastSeenDue(existing.lastSeenMs, merged.lastSeenMs)) return true;
  for (const k of Object.keys(merged) as (keyof PeerRecord)[]) {
    if (k === 'lastSeenMs') continue;
    const a = existing[k];
    const b = merged[k];
    if (a === b) continue;
    if (Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => x === b[i])) continue;
    return true;
  }
  return false;
}

/** A round trip is written at once when it differs from the stored one by this factor, and by at least RTT_MOVED_MIN_MS. */
export const RTT_MOVED_FACTOR = 2;
export const RTT_MOVED_MIN_MS = 5;

/**
 * The measured round trip is another path's, not jitter (null: none stored yet). Measured
 * between two daemons it includes both event loops: in a calm 8-node lab 8–24 ms from one
 * gossip round to the next over the same tunnel.
 */
export function rttMoved(storedMs: number | null, measuredMs: number): boolean {
  if (storedMs === null) return true;
  const [low, high] = storedMs < measuredMs ? [storedMs, measuredMs] : [measuredMs, storedMs];
  return high - low >= RTT_MOVED_MIN_MS && high >= RTT_MOVED_FACTOR * low;
}

function normaliseAddresses(addresses: string[]): string[] {
  return [...new Set(addresses)].slice(0, MAX_ADDRESSES_PER_PEER);
}

// ---- the repository ---------------------------------------------------------

interface PeerRow {
  prefix: string;
  addresses: string;
  source: PeerSource;
  first_seen_ms: number;
  last_seen_ms: number;
  last_success_ms: number | null;
  failures: number;
  last_failure: string | null;
  last_failure_ms: number | null;
  dead: number;
  dead_since_ms: number | null;
  dead_reason: string | null;
  dead_cause: DeadCause | null;
  retry_at_ms: number;
  rtt_ms: number | null;
  cert_serial: string | null;
}

function toRecord(r: PeerRow): PeerRecord {
  let addresses: string[] = [];
  try {
    const parsed: unknown = JSON.parse(r.addresses);
    if (Array.isArray(parsed)) addresses = parsed.filter((a): a is string => typeof a === 'string');
  } catch {
    addresses = []; // a hand-edited row must not break listing
  }
  return {
    prefix: r.prefix,
    addresses,
    source: r.source,
    firstSeenMs: r.first_seen_ms,
    lastSeenMs: r.last_seen_ms,
    lastSuccessMs: r.last_success_ms,
    failures: r.failures,
    lastFailure: r.last_failure,
    lastFailureMs: r.last_failure_ms,
    dead: r.dead === 1,
    deadSinceMs: r.dead_since_ms,
    deadReason: r.dead_reason,
    deadCause: r.dead_cause,
    retryAtMs: r.retry_at_ms,
    rttMs: r.rtt_ms,
    certSerial: r.cert_serial,
  };
}

function toParams(p: PeerRecord): Record<string, unknown> {
  return {
    prefix: p.prefix,
    addresses: JSON.stringify(p.addresses),
    source: p.source,
    first_seen_ms: p.firstSeenMs,
    last_seen_ms: p.lastSeenMs,
    last_success_ms: p.lastSuccessMs,
    failures: p.failures,
    last_failure: p.lastFailure,
    last_failure_ms: p.lastFailureMs,
    dead: p.dead ? 1 : 0,
    dead_since_ms: p.deadSinceMs,
    dead_reason: p.deadReason,
    dead_cause: p.deadCause,
    retry_at_ms: p.retryAtMs,
    rtt_ms: p.rttMs,
    cert_serial: p.certSerial,
  };
}

const COLUMNS = 'prefix, addresses, source, first_seen_ms, last_seen_ms, last_success_ms, failures, last_failure, last_failure_ms, dead, dead_since_ms, dead_reason, dead_cause, retry_at_ms, rtt_ms, cert_serial';

function prepareStatements(db: Database.Database) {
  return {
    get: db.prepare<[string], PeerRow>(`SELECT ${COLUMNS} FROM peers WHERE prefix = ?`),
    all: db.prepare<[], PeerRow>(`SELECT ${COLUMNS} FROM peers ORDER BY prefix`),
    byDead: db.prepare<[number], PeerRow>(`SELECT ${COLUMNS} FROM peers WHERE dead = ? ORDER BY prefix`),
    // Live peers whose backoff is over, then dead ones due for their retry (a last resort), most overdue first.
    candidates: db.prepare<[number], PeerRow>(
      `SELECT ${COLUMNS} FROM peers WHERE retry_at_ms <= ? AND addresses != '[]' AND (dead = 0 OR dead_cause = 'failures')
       ORDER BY dead ASC, CASE WHEN dead = 1 THEN retry_at_ms ELSE 0 END ASC, prefix ASC`,
    ),
    dueForRetry: db.prepare<[number], PeerRow>(
      `SELECT ${COLUMNS} FROM peers WHERE dead = 1 AND dead_cause = 'failures' AND retry_at_ms <= ? AND addresses != '[]' ORDER BY retry_at_ms, prefix`,
    ),
    put: db.prepare(
      `INSERT OR REPLACE INTO peers (${COLUMNS}) VALUES (@prefix, @addresses, @source, @first_seen_ms, @last_seen_ms, @last_success_ms, @failures, @last_failure, @last_failure_ms, @dead, @dead_since_ms, @dead_reason, @dead_cause, @retry_at_ms, @rtt_ms, @cert_serial)`,
    ),
    remove: db.prepare<[string]>('DELETE FROM peers WHERE prefix = ?'),
    count: db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM peers'),
    // Dead peers first (longest dead first), then the least recently seen; configured peers stay.
    evictable: db.prepare<[string, number], { prefix: string }>(
      `SELECT prefix FROM peers WHERE source != 'config' AND prefix != ?
       ORDER BY dead DESC, CASE WHEN dead = 1 THEN dead_since_ms ELSE last_seen_ms END ASC, prefix ASC LIMIT ?`,
    ),
    getConfig: db.prepare<[], { version: number; config: string; signature: string; stored_at_ms: number }>(
      'SELECT version, config, signature, stored_at_ms FROM network_config WHERE id = 1',
    ),
    putConfig: db.prepare(
      `INSERT INTO network_config (id, version, config, signature, stored_at_ms) VALUES (1, @version, @config, @signature, @stored_at_ms)
       ON CONFLICT (id) DO UPDATE SET version = excluded.version, config = excluded.config, signature = excluded.signature, stored_at_ms = excluded.stored_at_ms
       WHERE excluded.version > network_config.version`,
    ),
  };
}

/**
 * Every peer and the stored network config's version, read from the file without
 * creating, migrating or writing it (what the CLI shows while the daemon does not
 * answer). A WAL reader takes no lock the daemon waits for. Throws what better-sqlite3
 * throws (missing file, unreadable, an older schema): the caller says what to do.
 */
export function readPeerDbFile(path: string): { peers: PeerRecord[]; networkConfig: { version: number; storedAtMs: number } | null } {
  const db = new Database(path, { readonly: true, fileMustExist: true, timeout: 2000 });
  try {
    const peers = db.prepare<[], PeerRow>(`SELECT ${COLUMNS} FROM peers ORDER BY prefix`).all().map(toRecord);
    const config = db.prepare<[], { version: number; stored_at_ms: number }>('SELECT version, stored_at_ms FROM network_config WHERE id = 1').get();
    return { peers, networkConfig: config === undefined ? null : { version: config.version, storedAtMs: config.stored_at_ms } };
  } finally {
    db.close();
  }
}

export class PeerDb {
  private readonly db: Database.Database;
  private readonly policy: PeerPolicy;
  private readonly maxPeers: number;
  private readonly rand: () => number;
  private readonly stmt: ReturnType<typeof prepareStatements>;

  /** Opens (creating and migrating) the DB at `path`; ":memory:" for tests. */
  constructor(path: string, options: PeerDbOptions = {}) {
    const { maxPeers, rand, ...policy } = options;
    this.policy = { ...DEFAULT_PEER_POLICY, ...definedOnly(policy) };
    this.maxPeers = maxPeers ?? 1000;
    this.rand = rand ?? Math.random;
    try {
      this.db = new Database(path);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.db.pragma('busy_timeout = 5000');
      migrate(this.db);
    } catch (err) {
      if (err instanceof ResilnetError) throw err;
      throw new ResilnetError('RN_PEERDB_OPEN', `cannot open the peer DB: ${path} (${(err as Error).message}). Check that the state directory exists and is writable by the daemon.`, { cause: err });
    }
    this.stmt = prepareStatements(this.db);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /**
   * Runs `fn` as one transaction: the pages its writes touch go to disk once, not once per
   * write (a gossip peer list refreshes tens of peers at once). A write that throws inside is
   * undone alone (each write is a savepoint), and `fn` decides whether to go on.
   */
  batch<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  getPeer(prefix: string): PeerRecord | undefined {
    const row = this.stmt.get.get(canonicalPrefix(prefix));
    return row === undefined ? undefined : toRecord(row);
  }

  /** Adds or refreshes a peer; evicts others when the DB is full. */
  upsertPeer(report: UpsertPeer, nowMs: number): { created: boolean; revived: boolean; evicted: string[] } {
    const prefix = canonicalPrefix(report.prefix);
    return this.db.transaction(() => {
      const existing = this.getPeer(prefix);
      if (existing !== undefined) {
        const { record, revived } = mergeReport(existing, { ...report, prefix }, nowMs);
        if (!worthWriting(existing, record)) return { created: false, revived, evicted: [] };
        this.stmt.put.run(toParams(record));
        return { created: false, revived, evicted: [] };
      }
      const record: PeerRecord = {
        prefix,
        addresses: normaliseAddresses(report.addresses),
        source: report.source,
        firstSeenMs: nowMs,
        lastSeenMs: nowMs,
        lastSuccessMs: null,
        rttMs: null,
        certSerial: report.certSerial ?? null,
        ...LIVE_STATE,
      };
      this.stmt.put.run(toParams(record));
      const over = this.stmt.count.get()!.n - this.maxPeers;
      const evicted = over > 0 ? this.stmt.evictable.all(prefix, over).map((r) => r.prefix) : [];
      for (const p of evicted) this.stmt.remove.run(p);
      return { created: true, revived: false, evicted };
    })();
  }

  /**
   * A failed attempt the peer is to blame for (see failure-blame.ts): backoff
   * grows; after the threshold the peer is dead and retried on the dead-peer
   * backoff. Unknown prefix: undefined.
   */
  recordFailure(prefix: string, reason: string, nowMs: number): (FailureState & { becameDead: boolean }) | undefined {
    return this.update(prefix, (p) => {
      const next = applyFailure(p, reason, nowMs, this.rand, this.policy);
      return { record: { ...p, ...next }, result: { ...next, becameDead: next.dead && !p.dead } };
    });
  }

  /** The peer refused a tunnel because it is full (retry-policy.ts applyBusy): left alone a while, not failed. */
  recordBusy(prefix: string, reason: string, nowMs: number): { retryAtMs: number } | undefined {
    return this.update(prefix, (p) => {
      const next = applyBusy(p, reason, nowMs, this.rand);
      return { record: { ...p, ...next }, result: { retryAtMs: next.retryAtMs } };
    });
  }

  /**
   * The peer showed it is alive (`how`, e.g. "asked us for a tunnel"): a peer
   * dead of failures is revived and a backoff ends; a revoked one stays dead.
   * Writes only when something changes. Unknown prefix: undefined.
   */
  recordProofOfLife(prefix: string, how: string, nowMs: number): { revived: boolean; changed: boolean; how: string } | undefined {
    const key = canonicalPrefix(prefix);
    const existing = this.getPeer(key);
    if (existing === undefined) return undefined;
    const next = applyProofOfLife(existing, nowMs);
    if (next === null) return { revived: false, changed: false, how };
    return this.update(key, () => ({ record: next, result: { revived: existing.dead, changed: true, how } }));
  }

  /** A tunnel came up: clears failures and the dead flag. */
  recordSuccess(prefix: string, nowMs: number): { wasDead: boolean } | undefined {
    return this.update(prefix, (p) => ({
      record: { ...p, ...LIVE_STATE, lastSuccessMs: nowMs, lastSeenMs: Math.max(p.lastSeenMs, nowMs) },
      result: { wasDead: p.dead },
    }));
  }

  /**
   * Dead for good (e.g. "certificate 1a revoked"): never retried, not revived by
   * proof of life or new addresses; only a tunnel that comes up clears it.
   */
  markDead(prefix: string, reason: string, nowMs: number): boolean {
    return (
      this.update(prefix, (p) => ({
        record: { ...p, dead: true, deadSinceMs: p.dead ? p.deadSinceMs : nowMs, deadReason: reason, deadCause: 'revoked', retryAtMs: 0 },
        result: true,
      })) ?? false
    );
  }

  /**
   * Records a measured round trip (also counts as seen). Written with lastSeenMs once a grain,
   * or at once when it doubled or halved (rttMoved): every adjacent peer's round trip is
   * measured each gossip round, jittering by half between rounds, and an idle daemon should
   * not write its disk for each.
   */
  setRtt(prefix: string, rttMs: number, nowMs: number): boolean {
    return (
      this.update(prefix, (p) => {
        return { record: { ...p, rttMs: lastSeenDue(p.lastSeenMs, nowMs) || rttMoved(p.rttMs, rttMs) ? rttMs : p.rttMs, lastSeenMs: Math.max(p.lastSeenMs, nowMs) }, result: true };
      }) ?? false
    );
  }

  listPeers(filter: { dead?: boolean } = {}): PeerRecord[] {
    const rows = filter.dead === undefined ? this.stmt.all.all() : this.stmt.byDead.all(filter.dead ? 1 : 0);
    return rows.map(toRecord);
  }

  /**
   * Peers worth an attempt now, with at least one address: live ones whose
   * backoff is over, then (a last resort) dead ones due for their retry.
   */
  candidates(nowMs: number): PeerRecord[] {
    return this.stmt.candidates.all(nowMs).map(toRecord);
  }

  /** Peers dead of failures whose retry is due, most overdue first. */
  dueForRetry(nowMs: number): PeerRecord[] {
    return this.stmt.dueForRetry.all(nowMs).map(toRecord);
  }

  removePeer(prefix: string): boolean {
    return this.stmt.remove.run(canonicalPrefix(prefix)).changes > 0;
  }

  count(): number {
    return this.stmt.count.get()!.n;
  }

  /** The cached signed network config, exactly as received. */
  getNetworkConfig(): { signed: SignedNetworkConfig; version: number; storedAtMs: number } | undefined {
    const row = this.stmt.getConfig.get();
    if (row === undefined) return undefined;
    return { signed: { config: row.config, signature: row.signature }, version: row.version, storedAtMs: row.stored_at_ms };
  }

  /**
   * Stores a signed network config whose signature the caller has verified.
   * Only a newer version replaces the cached one; returns whether it did.
   */
  setNetworkConfig(signed: SignedNetworkConfig, version: number, nowMs: number): boolean {
    const info = this.stmt.putConfig.run({ version, config: signed.config, signature: signed.signature, stored_at_ms: nowMs });
    return info.changes > 0;
  }

  private update<T>(prefix: string, change: (p: PeerRecord) => { record: PeerRecord; result: T }): T | undefined {
    const key = canonicalPrefix(prefix);
    return this.db.transaction(() => {
      const existing = this.getPeer(key);
      if (existing === undefined) return undefined;
      const { record, result } = change(existing);
      // Like a report (upsertPeer): a change that only moves lastSeenMs within its grain is not written.
      if (worthWriting(existing, record)) this.stmt.put.run(toParams(record));
      return result;
    })();
  }
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
