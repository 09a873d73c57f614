// Peer DB schema as numbered migrations. PRAGMA user_version holds the number
// of migrations applied; each runs once, in order, inside a transaction.
import type Database from 'better-sqlite3';
import { ResilnetError } from '../../config/errors.js';

export interface Migration {
  version: number;
  description: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'peers by prefix with failure, dead and retry state',
    sql: `
      CREATE TABLE peers (
        prefix          TEXT PRIMARY KEY,
        addresses       TEXT NOT NULL DEFAULT '[]',  -- JSON list of "IP:PORT"
        source          TEXT NOT NULL CHECK (source IN ('registry', 'peer', 'lan', 'config')),
        first_seen_ms   INTEGER NOT NULL,
        last_seen_ms    INTEGER NOT NULL,
        last_success_ms INTEGER,                     -- last tunnel that came up
        failures        INTEGER NOT NULL DEFAULT 0,  -- consecutive failed attempts
        last_failure    TEXT,
        dead            INTEGER NOT NULL DEFAULT 0 CHECK (dead IN (0, 1)),
        dead_since_ms   INTEGER,
        dead_reason     TEXT,
        retry_at_ms     INTEGER NOT NULL DEFAULT 0,  -- no attempt before this
        rtt_ms          REAL,
        cert_serial     TEXT
      );
      CREATE INDEX peers_dead_retry ON peers (dead, retry_at_ms);
    `,
  },
  {
    version: 2,
    description: 'cached signed network config; who marked a peer dead',
    sql: `
      CREATE TABLE network_config (
        id           INTEGER PRIMARY KEY CHECK (id = 1),
        version      INTEGER NOT NULL,
        config       TEXT NOT NULL,  -- the signed JSON text, byte for byte
        signature    TEXT NOT NULL,  -- base64
        stored_at_ms INTEGER NOT NULL
      );
      -- 'failures': cleared when the peer shows new addresses; 'marked': only by a success.
      ALTER TABLE peers ADD COLUMN dead_cause TEXT CHECK (dead_cause IN ('failures', 'marked'));
      UPDATE peers SET dead_cause = 'failures' WHERE dead = 1;
    `,
  },
  {
    version: 3,
    description: "dead peers are retried: 'marked' becomes 'revoked' (never retried), time of the last failure",
    // SQLite cannot change a CHECK constraint in place: the table is rebuilt.
    sql: `
      CREATE TABLE peers_v3 (
        prefix          TEXT PRIMARY KEY,
        addresses       TEXT NOT NULL DEFAULT '[]',
        source          TEXT NOT NULL CHECK (source IN ('registry', 'peer', 'lan', 'config')),
        first_seen_ms   INTEGER NOT NULL,
        last_seen_ms    INTEGER NOT NULL,
        last_success_ms INTEGER,
        failures        INTEGER NOT NULL DEFAULT 0,
        last_failure    TEXT,
        last_failure_ms INTEGER,
        dead            INTEGER NOT NULL DEFAULT 0 CHECK (dead IN (0, 1)),
        dead_since_ms   INTEGER,
        dead_reason     TEXT,
        -- 'failures': retried on a backoff, revived by any proof of life; 'revoked': final.
        dead_cause      TEXT CHECK (dead_cause IN ('failures', 'revoked')),
        retry_at_ms     INTEGER NOT NULL DEFAULT 0,  -- next attempt (dead: next retry); 0 for revoked
        rtt_ms          REAL,
        cert_serial     TEXT
      );
      INSERT INTO peers_v3 (prefix, addresses, source, first_seen_ms, last_seen_ms, last_success_ms, failures, last_failure,
                            dead, dead_since_ms, dead_reason, dead_cause, retry_at_ms, rtt_ms, cert_serial)
        SELECT prefix, addresses, source, first_seen_ms, last_seen_ms, last_success_ms, failures, last_failure,
               dead, dead_since_ms, dead_reason,
               CASE WHEN dead = 0 THEN NULL WHEN dead_cause = 'marked' THEN 'revoked' ELSE 'failures' END,
               CASE WHEN dead = 1 AND dead_cause = 'marked' THEN 0 ELSE retry_at_ms END,
               rtt_ms, cert_serial
        FROM peers;
      DROP TABLE peers;
      ALTER TABLE peers_v3 RENAME TO peers;
      CREATE INDEX peers_dead_retry ON peers (dead, retry_at_ms);
    `,
  },
];

export const SCHEMA_VERSION = MIGRATIONS.at(-1)!.version;

/** Applies the migrations above `user_version` up to `target` (default: all). */
export function migrate(db: Database.Database, target: number = SCHEMA_VERSION): { from: number; to: number } {
  const from = db.pragma('user_version', { simple: true }) as number;
  if (from > SCHEMA_VERSION) {
    throw new ResilnetError('RN_PEERDB_SCHEMA_NEWER', `peer DB schema version ${from} is newer than this resilnet understands (${SCHEMA_VERSION}). Upgrade resilnet, or move the file away to start with an empty peer DB.`);
  }
  for (const m of MIGRATIONS) {
    if (m.version <= from || m.version > target) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    })();
  }
  return { from, to: db.pragma('user_version', { simple: true }) as number };
}
