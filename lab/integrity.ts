// `PRAGMA integrity_check` on every node's peer DB, opened read-only (the
// daemons may still be running): a chaos run fails when one is damaged.
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

export function checkPeerDb(node: LabNodeRecord): DbCheck {
  const path = peerDbPath(node);
  if (!existsSync(path)) return { node: node.name, path, result: 'missing', ok: false };
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true, timeout: 10_000 });
    const rows = db.pragma('integrity_check') as Array<{ integrity_check: string }>;
    const result = rows.map((r) => r.integrity_check).join('; ');
    return { node: node.name, path, result, ok: result === 'ok' };
  } catch (err) {
    return { node: node.name, path, result: `cannot check: ${(err as Error).message}`, ok: false };
  } finally {
    db?.close();
  }
}

export function checkPeerDbs(nodes: LabNodeRecord[]): DbCheck[] {
  return nodes.map(checkPeerDb);
}
