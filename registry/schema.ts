// Registry store migrations, numbered; PRAGMA user_version records the last
// one applied. Append new entries, never edit old ones.
export const MIGRATIONS: readonly string[] = [
  // 1: the first schema
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
  CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
  CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    secret_sha256 TEXT NOT NULL,
    uses_total INTEGER NOT NULL,
    uses_left INTEGER NOT NULL CHECK (uses_left >= 0),
    email TEXT,
    created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER,
    revoked_at_ms INTEGER
  ) STRICT;
  CREATE TABLE nodes (
    prefix TEXT PRIMARY KEY,
    prefix_index INTEGER NOT NULL UNIQUE,
    key_sha256 TEXT NOT NULL,
    email TEXT,
    token_id TEXT,
    enrolled_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    revoked_at_ms INTEGER,
    last_seen_ms INTEGER,
    seen_address TEXT,
    port INTEGER,
    addresses TEXT NOT NULL DEFAULT '[]',
    tunnels TEXT NOT NULL DEFAULT '[]',
    heartbeats INTEGER NOT NULL DEFAULT 0,
    config_version INTEGER
  ) STRICT;
  CREATE INDEX nodes_by_key ON nodes (key_sha256);
  CREATE INDEX nodes_by_seen ON nodes (last_seen_ms);
  CREATE TABLE certs (
    serial TEXT PRIMARY KEY,
    prefix TEXT NOT NULL,
    not_before_ms INTEGER NOT NULL,
    not_after_ms INTEGER NOT NULL,
    issued_at_ms INTEGER NOT NULL,
    pem TEXT,
    revoked_at_ms INTEGER
  ) STRICT;
  CREATE INDEX certs_by_prefix ON certs (prefix);
  CREATE INDEX certs_revoked ON certs (revoked_at_ms) WHERE revoked_at_ms IS NOT NULL;
  `,
  // 2: the token use a certificate reservation spent, so a reservation a crash
  // left without its certificate can give that use back at the next start.
  `
  ALTER TABLE certs ADD COLUMN token_id TEXT;
  CREATE INDEX certs_unfinished ON certs (serial) WHERE pem IS NULL;
  `,
  // 3: the NAT class the node reported in its last heartbeat (null: not reported).
  `
  ALTER TABLE nodes ADD COLUMN nat_class TEXT;
  `,
];
