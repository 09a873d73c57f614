// The registry store: the only module with SQL in it. better-sqlite3 (WAL,
// synchronous=NORMAL), prepared statements only, rows mapped to types.
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { ResilnetError } from '../config/errors.js';
import { ensurePrivateFile } from './private-files.js';
import { MIGRATIONS } from './schema.js';
import type { TokenRow } from './tokens.js';

export interface NodeRow {
  readonly prefix: string;
  readonly prefixIndex: number;
  readonly keySha256: string;
  readonly email: string | null;
  readonly tokenId: string | null;
  readonly enrolledAtMs: number;
  readonly expiresAtMs: number;
  readonly revokedAtMs: number | null;
  readonly lastSeenMs: number | null;
  readonly seenAddress: string | null;
  readonly port: number | null;
  readonly addresses: { address: string; kind: string }[];
  readonly tunnels: unknown[];
  readonly heartbeats: number;
  readonly configVersion: number | null;
  /** From the last heartbeat; null when the node did not say (older versions). */
  readonly natClass: string | null;
}

/** How the registry sees an enrolled node (offline: not heard within liveness.offline_after_sec). */
export const NODE_STATES = ['online', 'offline', 'never-seen', 'revoked'] as const;
export type NodeState = (typeof NODE_STATES)[number];

export interface RecentNode {
  readonly prefix: string;
  readonly lastSeenMs: number;
  readonly port: number | null;
  readonly seenAddress: string | null;
  readonly addresses: { address: string; kind: string }[];
  /** From the last heartbeat; null when the node did not say. */
  readonly natClass: string | null;
}

export interface CertRow {
  readonly serial: string;
  readonly prefix: string;
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
  readonly issuedAtMs: number;
  readonly pem: string | null;
  readonly revokedAtMs: number | null;
  /** The token use this certificate's enrolment spent (null for renewals and older stores). */
  readonly tokenId: string | null;
}

export interface HeartbeatRecord {
  prefix: string;
  nowMs: number;
  seenAddress: string;
  port: number;
  addresses: { address: string; kind: string }[];
  tunnels: unknown[];
  configVersion: number;
  natClass: string | null;
}

type Row = Record<string, unknown>;

function toNode(r: Row): NodeRow {
  return {
    prefix: r.prefix as string,
    prefixIndex: r.prefix_index as number,
    keySha256: r.key_sha256 as string,
    email: (r.email as string | null) ?? null,
    tokenId: (r.token_id as string | null) ?? null,
    enrolledAtMs: r.enrolled_at_ms as number,
    expiresAtMs: r.expires_at_ms as number,
    revokedAtMs: (r.revoked_at_ms as number | null) ?? null,
    lastSeenMs: (r.last_seen_ms as number | null) ?? null,
    seenAddress: (r.seen_address as string | null) ?? null,
    port: (r.port as number | null) ?? null,
    addresses: JSON.parse(r.addresses as string) as NodeRow['addresses'],
    tunnels: JSON.parse(r.tunnels as string) as unknown[],
    heartbeats: r.heartbeats as number,
    configVersion: (r.config_version as number | null) ?? null,
    natClass: (r.nat_class as string | null) ?? null,
  };
}

function toToken(r: Row): TokenRow {
  return {
    id: r.id as string,
    secretSha256: r.secret_sha256 as string,
    usesTotal: r.uses_total as number,
    usesLeft: r.uses_left as number,
    email: (r.email as string | null) ?? null,
    createdAtMs: r.created_at_ms as number,
    expiresAtMs: (r.expires_at_ms as number | null) ?? null,
    revokedAtMs: (r.revoked_at_ms as number | null) ?? null,
  };
}

function toCert(r: Row): CertRow {
  return {
    serial: r.serial as string,
    prefix: r.prefix as string,
    notBeforeMs: r.not_before_ms as number,
    notAfterMs: r.not_after_ms as number,
    issuedAtMs: r.issued_at_ms as number,
    pem: (r.pem as string | null) ?? null,
    revokedAtMs: (r.revoked_at_ms as number | null) ?? null,
    tokenId: (r.token_id as string | null) ?? null,
  };
}

export class RegistryDb {
  private readonly db: Database.Database;
  private readonly s: ReturnType<RegistryDb['prepare']>;

  /** What opening changed to keep the store private (files that group or others could read). */
  readonly tightened: string[] = [];

  /** Opens (creating if needed, mode 0600) and migrates the store. `:memory:` for tests. */
  constructor(path: string) {
    try {
      if (path !== ':memory:') {
        // SQLite gives the -wal and -shm files the store's own mode.
        for (const f of [path, `${path}-wal`, `${path}-shm`]) {
          const note = f === path || existsSync(f) ? ensurePrivateFile(f) : undefined;
          if (note) this.tightened.push(note);
        }
      }
      this.db = new Database(path);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.db.pragma('foreign_keys = ON');
      this.db.pragma('busy_timeout = 5000');
      this.migrate();
    } catch (err) {
      throw new ResilnetError('RN_REGISTRY_STORE', `cannot open the registry store ${path} (${(err as Error).message})`, { cause: err });
    }
    this.s = this.prepare();
  }

  private migrate(): void {
    const current = this.db.pragma('user_version', { simple: true }) as number;
    if (current > MIGRATIONS.length) {
      throw new Error(`store schema version ${current} is newer than this resilnet (${MIGRATIONS.length}); upgrade resilnet`);
    }
    for (let v = current; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v]!);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  private prepare() {
    const p = (sql: string) => this.db.prepare(sql);
    return {
      getMeta: p('SELECT value FROM meta WHERE key = ?').pluck(),
      setMeta: p('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
      allSettings: p('SELECT key, value FROM settings ORDER BY key'),
      clearSettings: p('DELETE FROM settings'),
      setSetting: p('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
      insertToken: p(`INSERT INTO tokens (id, secret_sha256, uses_total, uses_left, email, created_at_ms, expires_at_ms, revoked_at_ms)
        VALUES (@id, @secretSha256, @usesTotal, @usesLeft, @email, @createdAtMs, @expiresAtMs, NULL)`),
      getToken: p('SELECT * FROM tokens WHERE id = ?'),
      listTokens: p('SELECT * FROM tokens ORDER BY created_at_ms, id'),
      revokeToken: p('UPDATE tokens SET revoked_at_ms = ? WHERE id = ? AND revoked_at_ms IS NULL'),
      spendToken: p('UPDATE tokens SET uses_left = uses_left - 1 WHERE id = ? AND uses_left > 0 AND revoked_at_ms IS NULL'),
      refundToken: p('UPDATE tokens SET uses_left = MIN(uses_left + 1, uses_total) WHERE id = ?'),
      getNode: p('SELECT * FROM nodes WHERE prefix = ?'),
      nodeRevokedAt: p('SELECT revoked_at_ms FROM nodes WHERE prefix = ?').pluck(),
      liveNodeByKey: p('SELECT * FROM nodes WHERE key_sha256 = ? AND revoked_at_ms IS NULL ORDER BY enrolled_at_ms DESC LIMIT 1'),
      usedIndexes: p('SELECT prefix_index FROM nodes ORDER BY prefix_index').pluck(),
      insertNode: p(`INSERT INTO nodes (prefix, prefix_index, key_sha256, email, token_id, enrolled_at_ms, expires_at_ms)
        VALUES (@prefix, @prefixIndex, @keySha256, @email, @tokenId, @enrolledAtMs, @expiresAtMs)`),
      updateNodeCert: p('UPDATE nodes SET key_sha256 = ?, expires_at_ms = MAX(expires_at_ms, ?) WHERE prefix = ?'),
      revokeNode: p('UPDATE nodes SET revoked_at_ms = ? WHERE prefix = ? AND revoked_at_ms IS NULL'),
      deleteNode: p('DELETE FROM nodes WHERE prefix = ?'),
      heartbeat: p(`UPDATE nodes SET last_seen_ms = @nowMs, seen_address = @seenAddress, port = @port, addresses = @addresses,
        tunnels = @tunnels, heartbeats = heartbeats + 1, config_version = @configVersion, nat_class = @natClass WHERE prefix = @prefix`),
      listNodes: p('SELECT * FROM nodes ORDER BY prefix_index'),
      // Unrevoked nodes first, then the most recently heard from; shown in prefix order.
      statusNodes: p(`SELECT * FROM (SELECT * FROM nodes ORDER BY revoked_at_ms IS NOT NULL, last_seen_ms IS NULL, last_seen_ms DESC, prefix_index LIMIT ?)
        ORDER BY prefix_index`),
      nodeCount: p('SELECT count(*) FROM nodes').pluck(),
      // The states of service.ts's nodeSummary, decided in SQL, so a count reads no rows out.
      nodeStateCounts: p(`SELECT CASE WHEN revoked_at_ms IS NOT NULL THEN 'revoked' WHEN last_seen_ms IS NULL THEN 'never-seen'
        WHEN last_seen_ms >= ? THEN 'online' ELSE 'offline' END AS state, count(*) AS n FROM nodes GROUP BY state`),
      recentNodes: p(`SELECT prefix, last_seen_ms, port, seen_address, addresses, nat_class FROM nodes WHERE revoked_at_ms IS NULL AND last_seen_ms >= ? AND prefix <> ?
        ORDER BY last_seen_ms DESC LIMIT ?`),
      expiredPrefixes: p('SELECT prefix FROM nodes WHERE expires_at_ms < ?').pluck(),
      insertCert: p(`INSERT INTO certs (serial, prefix, not_before_ms, not_after_ms, issued_at_ms, pem, token_id)
        VALUES (@serial, @prefix, @notBeforeMs, @notAfterMs, @issuedAtMs, NULL, @tokenId)`),
      unfinishedCerts: p('SELECT * FROM certs WHERE pem IS NULL ORDER BY serial'),
      issuedCertsOfPrefix: p('SELECT count(*) FROM certs WHERE prefix = ? AND pem IS NOT NULL').pluck(),
      setCertPem: p('UPDATE certs SET pem = ? WHERE serial = ?'),
      deleteCert: p('DELETE FROM certs WHERE serial = ?'),
      getCert: p('SELECT * FROM certs WHERE serial = ?'),
      certsOfPrefix: p('SELECT * FROM certs WHERE prefix = ? ORDER BY issued_at_ms'),
      revokeCert: p('UPDATE certs SET revoked_at_ms = ? WHERE serial = ? AND revoked_at_ms IS NULL'),
      revokeLiveCertsOfPrefix: p('UPDATE certs SET revoked_at_ms = ? WHERE prefix = ? AND revoked_at_ms IS NULL AND not_after_ms >= ? RETURNING serial').pluck(),
      liveUnrevokedOfPrefix: p('SELECT count(*) FROM certs WHERE prefix = ? AND revoked_at_ms IS NULL AND not_after_ms >= ?').pluck(),
      revokedCerts: p('SELECT * FROM certs WHERE revoked_at_ms IS NOT NULL AND not_after_ms >= ? ORDER BY serial'),
    };
  }

  /** Runs fn in one IMMEDIATE transaction (takes the write lock at BEGIN). */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  close(): void {
    this.db.close();
  }

  getMeta(key: string): string | undefined {
    return this.s.getMeta.get(key) as string | undefined;
  }

  setMeta(key: string, value: string): void {
    this.s.setMeta.run(key, value);
  }

  /** Allocates the next certificate serial (run inside a transaction). */
  nextSerialTx(): string {
    const next = BigInt(`0x${this.getMeta('next_serial') ?? '10'}`);
    this.setMeta('next_serial', (next + 1n).toString(16));
    return next.toString(16);
  }

  getSettings(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const r of this.s.allSettings.all() as Row[]) out[r.key as string] = JSON.parse(r.value as string);
    return out;
  }

  replaceSettings(settings: Record<string, unknown>): void {
    this.transaction(() => {
      this.s.clearSettings.run();
      for (const [k, v] of Object.entries(settings)) this.s.setSetting.run(k, JSON.stringify(v));
    });
  }

  insertToken(row: Omit<TokenRow, 'revokedAtMs'>): void {
    this.s.insertToken.run(row);
  }

  getToken(id: string): TokenRow | undefined {
    const r = this.s.getToken.get(id) as Row | undefined;
    return r ? toToken(r) : undefined;
  }

  listTokens(): TokenRow[] {
    return (this.s.listTokens.all() as Row[]).map(toToken);
  }

  revokeToken(id: string, nowMs: number): boolean {
    return this.s.revokeToken.run(nowMs, id).changes === 1;
  }

  /** Takes one use; false when none is left (the WHERE makes this atomic). */
  spendToken(id: string): boolean {
    return this.s.spendToken.run(id).changes === 1;
  }

  refundToken(id: string): void {
    this.s.refundToken.run(id);
  }

  getNode(prefix: string): NodeRow | undefined {
    const r = this.s.getNode.get(prefix) as Row | undefined;
    return r ? toNode(r) : undefined;
  }

  /** undefined: no such node; null: not revoked. */
  nodeRevokedAt(prefix: string): number | null | undefined {
    return this.s.nodeRevokedAt.get(prefix) as number | null | undefined;
  }

  liveNodeByKey(keySha256: string): NodeRow | undefined {
    const r = this.s.liveNodeByKey.get(keySha256) as Row | undefined;
    return r ? toNode(r) : undefined;
  }

  usedPrefixIndexes(): number[] {
    return this.s.usedIndexes.all() as number[];
  }

  insertNode(row: { prefix: string; prefixIndex: number; keySha256: string; email: string | null; tokenId: string | null; enrolledAtMs: number; expiresAtMs: number }): void {
    this.s.insertNode.run(row);
  }

  updateNodeCert(prefix: string, keySha256: string, expiresAtMs: number): void {
    this.s.updateNodeCert.run(keySha256, expiresAtMs, prefix);
  }

  revokeNode(prefix: string, nowMs: number): boolean {
    return this.s.revokeNode.run(nowMs, prefix).changes === 1;
  }

  deleteNode(prefix: string): void {
    this.s.deleteNode.run(prefix);
  }

  recordHeartbeat(h: HeartbeatRecord): boolean {
    return (
      this.s.heartbeat.run({
        prefix: h.prefix,
        nowMs: h.nowMs,
        seenAddress: h.seenAddress,
        port: h.port,
        addresses: JSON.stringify(h.addresses),
        tunnels: JSON.stringify(h.tunnels),
        configVersion: h.configVersion,
        natClass: h.natClass,
      }).changes === 1
    );
  }

  listNodes(): NodeRow[] {
    return (this.s.listNodes.all() as Row[]).map(toNode);
  }

  /** At most `limit` nodes for the status page: unrevoked and recently seen ones first, returned in prefix order. */
  statusNodes(limit: number): NodeRow[] {
    return (this.s.statusNodes.all(limit) as Row[]).map(toNode);
  }

  nodeCount(): number {
    return this.s.nodeCount.get() as number;
  }

  /** Nodes per state (every state present, 0 when none): online when last heard at or after `onlineSinceMs`. */
  nodeStateCounts(onlineSinceMs: number): Record<NodeState, number> {
    const counts = Object.fromEntries(NODE_STATES.map((state) => [state, 0])) as Record<NodeState, number>;
    for (const r of this.s.nodeStateCounts.all(onlineSinceMs) as Array<{ state: NodeState; n: number }>) counts[r.state] = r.n;
    return counts;
  }

  /** Unrevoked nodes seen since `sinceMs`, most recent first, excluding one prefix. */
  recentNodes(sinceMs: number, excludePrefix: string, limit: number): RecentNode[] {
    return (this.s.recentNodes.all(sinceMs, excludePrefix, limit) as Row[]).map((r) => ({
      prefix: r.prefix as string,
      lastSeenMs: r.last_seen_ms as number,
      port: (r.port as number | null) ?? null,
      seenAddress: (r.seen_address as string | null) ?? null,
      addresses: JSON.parse(r.addresses as string) as NodeRow['addresses'],
      natClass: (r.nat_class as string | null) ?? null,
    }));
  }

  /** Nodes whose newest certificate expired before `beforeMs`. */
  expiredPrefixes(beforeMs: number): string[] {
    return this.s.expiredPrefixes.all(beforeMs) as string[];
  }

  insertCert(row: { serial: string; prefix: string; notBeforeMs: number; notAfterMs: number; issuedAtMs: number; tokenId?: string | null }): void {
    this.s.insertCert.run({ ...row, tokenId: row.tokenId ?? null });
  }

  /** Reservations whose certificate was never written (a crash between the two). */
  unfinishedCerts(): CertRow[] {
    return (this.s.unfinishedCerts.all() as Row[]).map(toCert);
  }

  issuedCertCount(prefix: string): number {
    return this.s.issuedCertsOfPrefix.get(prefix) as number;
  }

  setCertPem(serial: string, pem: string): void {
    this.s.setCertPem.run(pem, serial);
  }

  deleteCert(serial: string): void {
    this.s.deleteCert.run(serial);
  }

  getCert(serial: string): CertRow | undefined {
    const r = this.s.getCert.get(serial) as Row | undefined;
    return r ? toCert(r) : undefined;
  }

  certsOfPrefix(prefix: string): CertRow[] {
    return (this.s.certsOfPrefix.all(prefix) as Row[]).map(toCert);
  }

  revokeCert(serial: string, nowMs: number): boolean {
    return this.s.revokeCert.run(nowMs, serial).changes === 1;
  }

  /** Revokes every unrevoked certificate of the prefix still valid at `aliveAtMs`. */
  revokeLiveCertsOfPrefix(prefix: string, nowMs: number, aliveAtMs: number): string[] {
    return this.s.revokeLiveCertsOfPrefix.all(nowMs, prefix, aliveAtMs) as string[];
  }

  countLiveUnrevoked(prefix: string, aliveAtMs: number): number {
    return this.s.liveUnrevokedOfPrefix.get(prefix, aliveAtMs) as number;
  }

  /** Revoked certificates still valid at `aliveAtMs` (what the CRL must list). */
  revokedCerts(aliveAtMs: number): CertRow[] {
    return (this.s.revokedCerts.all(aliveAtMs) as Row[]).map(toCert);
  }
}
