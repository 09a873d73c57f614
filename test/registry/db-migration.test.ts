// A store written by the previous schema (2) opens, gains nodes.nat_class
// (null for the nodes it holds), and keeps its rows.
import test from 'ava';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RegistryDb } from '../../registry/db.js';
import { MIGRATIONS } from '../../registry/schema.js';

test('a schema-2 store migrates to nat_class: old nodes read null, heartbeats store the class', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rn-migrate-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'registry.db');
  const old = new Database(path);
  for (const m of MIGRATIONS.slice(0, 2)) old.exec(m);
  old.pragma('user_version = 2');
  old.prepare(`INSERT INTO nodes (prefix, prefix_index, key_sha256, enrolled_at_ms, expires_at_ms, last_seen_ms, tunnels)
    VALUES ('fd42:1:0:1::/64', 1, 'k', 1, 2, 3, '[{"peer":"fd42:1:0:2::/64","role":"client","rx_bytes":1,"tx_bytes":2,"rtt_ms":null}]')`).run();
  old.close();

  const db = new RegistryDb(path);
  t.teardown(() => db.close());
  const before = db.getNode('fd42:1:0:1::/64')!;
  t.is(before.natClass, null);
  t.is(before.lastSeenMs, 3);
  t.is(before.tunnels.length, 1);
  t.true(db.recordHeartbeat({ prefix: before.prefix, nowMs: 4, seenAddress: '10.0.0.1', port: 1194, addresses: [], tunnels: [], configVersion: 1, natClass: 'apdm' }));
  t.is(db.getNode(before.prefix)!.natClass, 'apdm');
  t.is(db.nodeCount(), 1);
  t.deepEqual(db.statusNodes(10).map((n) => n.prefix), [before.prefix]);
});
