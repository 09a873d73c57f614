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
