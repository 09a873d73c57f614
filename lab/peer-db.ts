// The lab's read-only look into a node's peer DB (the daemon may be running):
// `PRAGMA integrity_check` (a chaos run fails when a DB is damaged), and the
// peers marked dead. Read from the file, not through `resilnet peers`, so the
// reading stays quick on a loaded machine where a CLI start takes seconds.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { LabNodeRecord } from './manifest.js';

export interface DbCheck {
  node: string;
  path: string;
  /** "ok", or what SQLite reported / why it could not be opened. */
  result: string;
  ok: boolean;
}

export function peerDbPath(node: LabNodeRecord): string {
  return join(node.dir, 'state', 'peers.db');
}

function withDb<T>(path: string, read: (db: Database.Database) => T): T {
  const db = new Database(path, { readonly: true, fileMustExist: true, timeout: 10_000 });
  try {
    return read(db);
  } finally {
    db.close();
  }
}

export function checkPeerDb(node: LabNodeRecord): DbCheck {
  const path = peerDbPath(node);
  if (!existsSync(path)) return { node: node.name, path, result: 'missing', ok: false };
  try {
    const rows = withDb(path, (db) => db.pragma('integrity_check') as Array<{ integrity_check: string }>);
    const result = rows.map((r) => r.integrity_check).join('; ');
    return { node: node.name, path, result, ok: result === 'ok' };
  } catch (err) {
    return { node: node.name, path, result: `cannot check: ${(err as Error).message}`, ok: false };
  }
}

/** The peers a node has marked dead, with the reason it recorded. */
export function deadPeers(node: LabNodeRecord): Array<{ prefix: string; reason: string | null }> {
  return withDb(peerDbPath(node), (db) => db.prepare('SELECT prefix, dead_reason AS reason FROM peers WHERE dead = 1 ORDER BY prefix').all() as Array<{ prefix: string; reason: string | null }>);
}

export function checkPeerDbs(nodes: LabNodeRecord[]): DbCheck[] {
  return nodes.map(checkPeerDb);
}
