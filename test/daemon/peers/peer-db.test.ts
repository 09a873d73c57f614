import test from 'ava';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LAST_SEEN_GRAIN_MS, PeerDb, rttMoved, worthWriting } from '../../../daemon/peers/peer-db.js';
import { MIGRATIONS, SCHEMA_VERSION, migrate } from '../../../daemon/peers/schema.js';

const T0 = 1_700_000_000_000;
const P1 = 'fd5e:1:0:1::/64';
const P2 = 'fd5e:1:0:2::/64';
const P3 = 'fd5e:1:0:3::/64';
/** Jitter at its midpoint: dead-peer waits are exactly base · 2^k. */
const noJitter = (): number => 0.5;

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'rn-peerdb-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('upsert, failures to dead, success clears, candidates follow', (t) => {
  const db = new PeerDb(':memory:', { rand: noJitter });
  t.teardown(() => db.close());
  t.like(db.upsertPeer({ prefix: 'fd5e:1:0:1:0::/64', addresses: ['10.0.0.1:1194', '10.0.0.1:1194'], source: 'registry' }, T0), { created: true });
  db.upsertPeer({ prefix: P2, addresses: ['10.0.0.2:1194'], source: 'peer' }, T0);
  db.upsertPeer({ prefix: P3, addresses: [], source: 'peer' }, T0);
  t.deepEqual(db.getPeer(P1)?.addresses, ['10.0.0.1:1194'], 'canonical prefix, deduplicated addresses');
  t.deepEqual(db.candidates(T0).map((p) => p.prefix), [P1, P2], 'a peer without addresses is no candidate');

  t.like(db.recordFailure(P1, 'connection refused', T0), { failures: 1, dead: false, becameDead: false });
  t.deepEqual(db.candidates(T0 + 1).map((p) => p.prefix), [P2], 'backing off');
  t.deepEqual(db.candidates(T0 + 30_000).map((p) => p.prefix), [P1, P2], 'retry due');
  db.recordFailure(P1, 'connection refused', T0 + 30_000);
  t.like(db.recordFailure(P1, 'connection refused', T0 + 90_000), { dead: true, becameDead: true });
  t.like(db.getPeer(P1), { dead: true, deadSinceMs: T0 + 90_000, deadReason: '3 failed attempts (connection refused)', deadCause: 'failures', failures: 3, retryAtMs: T0 + 90_000 + 120_000 });
  t.deepEqual(db.listPeers({ dead: true }).map((p) => p.prefix), [P1]);
  t.deepEqual(db.candidates(T0 + 209_999).map((p) => p.prefix), [P2], 'a dead peer is no candidate before its retry');
  t.deepEqual(db.dueForRetry(T0 + 209_999), []);
  t.deepEqual(db.candidates(T0 + 210_000).map((p) => p.prefix), [P2, P1], 'due: a last resort, after the live ones');
  t.deepEqual(db.dueForRetry(T0 + 210_000).map((p) => p.prefix), [P1]);

  t.deepEqual(db.recordSuccess(P1, T0 + 100_000), { wasDead: true });
  t.like(db.getPeer(P1), { dead: false, failures: 0, deadReason: null, retryAtMs: 0, lastSuccessMs: T0 + 100_000 });
  t.is(db.recordFailure('fd5e:1:0:99::/64', 'x', T0), undefined);
});

test('new addresses revive a peer dead of failures, but not a revoked one', (t) => {
  const db = new PeerDb(':memory:', { deadAfterFailures: 1 });
  t.teardown(() => db.close());
  db.upsertPeer({ prefix: P1, addresses: ['10.0.0.1:1194'], source: 'registry' }, T0);
  db.upsertPeer({ prefix: P2, addresses: ['10.0.0.2:1194'], source: 'registry' }, T0);
  db.recordFailure(P1, 'timeout', T0);
  t.true(db.markDead(P2, 'certificate revoked', T0));
  t.like(db.upsertPeer({ prefix: P1, addresses: ['10.0.0.1:1194'], source: 'peer' }, T0 + 1), { revived: false }, 'same addresses: still dead');
  t.like(db.upsertPeer({ prefix: P1, addresses: ['10.0.9.1:1194'], source: 'peer' }, T0 + 2), { revived: true });
  t.like(db.getPeer(P1), { dead: false, failures: 0, source: 'registry' }, 'the stronger source stays');
  t.like(db.upsertPeer({ prefix: P2, addresses: ['10.0.9.2:1194'], source: 'peer' }, T0 + 3), { revived: false });
  t.like(db.getPeer(P2), { dead: true, deadReason: 'certificate revoked', deadCause: 'revoked', retryAtMs: 0 });
  t.deepEqual(db.candidates(T0 + 100 * 3_600_000).map((p) => p.prefix), [P1], 'a revoked peer is never a candidate');
  t.deepEqual(db.dueForRetry(T0 + 100 * 3_600_000), []);
});

test('proof of life revives a peer dead of failures and ends a backoff; a revoked peer stays dead', (t) => {
  const db = new PeerDb(':memory:', { rand: noJitter });
  t.teardown(() => db.close());
  for (const [p, a] of [[P1, '10.0.0.1:1194'], [P2, '10.0.0.2:1194'], [P3, '10.0.0.3:1194']] as const) db.upsertPeer({ prefix: p, addresses: [a], source: 'registry' }, T0);
  for (let i = 0; i < 3; i++) db.recordFailure(P1, 'no answer', T0 + i);
  db.recordFailure(P2, 'no answer', T0);
  db.markDead(P3, 'certificate 3c revoked', T0);

  t.deepEqual(db.recordProofOfLife(P1, 'asked us for a tunnel', T0 + 10), { revived: true, changed: true, how: 'asked us for a tunnel' });
  t.like(db.getPeer(P1), { dead: false, deadCause: null, deadReason: null, failures: 0, retryAtMs: 0, lastSeenMs: T0 + 10 });
  t.like(db.recordProofOfLife(P2, 'hello', T0 + 10), { revived: false, changed: true });
  t.like(db.getPeer(P2), { failures: 0, retryAtMs: 0 }, 'the backoff ended');
  t.like(db.recordProofOfLife(P2, 'hello', T0 + 11), { changed: false }, 'nothing to change: no write');
  t.like(db.recordProofOfLife(P3, 'hello', T0 + 10), { revived: false, changed: false });
  t.like(db.getPeer(P3), { dead: true, deadCause: 'revoked' });
  t.is(db.recordProofOfLife('fd5e:1:0:99::/64', 'hello', T0), undefined);
});

test('bounded size: dead peers go first, then the least recently seen; configured peers stay', (t) => {
  const db = new PeerDb(':memory:', { maxPeers: 3, deadAfterFailures: 1 });
  t.teardown(() => db.close());
  db.upsertPeer({ prefix: 'fd5e:1:0:c::/64', addresses: ['10.0.0.12:1194'], source: 'config' }, T0);
  db.upsertPeer({ prefix: P1, addresses: ['10.0.0.1:1194'], source: 'peer' }, T0 + 1);
  db.upsertPeer({ prefix: P2, addresses: ['10.0.0.2:1194'], source: 'peer' }, T0 + 2);
  db.recordFailure(P2, 'timeout', T0 + 3);
  t.deepEqual(db.upsertPeer({ prefix: P3, addresses: ['10.0.0.3:1194'], source: 'peer' }, T0 + 4).evicted, [P2]);
  t.deepEqual(db.upsertPeer({ prefix: 'fd5e:1:0:4::/64', addresses: ['10.0.0.4:1194'], source: 'peer' }, T0 + 5).evicted, [P1]);
  t.is(db.count(), 3);
  t.truthy(db.getPeer('fd5e:1:0:c::/64'));
});

test('network config: only a newer version replaces the cached one', (t) => {
  const db = new PeerDb(':memory:');
  t.teardown(() => db.close());
  t.is(db.getNetworkConfig(), undefined);
  t.true(db.setNetworkConfig({ config: '{"version":2}', signature: 'c2ln' }, 2, T0));
  t.false(db.setNetworkConfig({ config: '{"version":1}', signature: 'b2xk' }, 1, T0 + 1));
  t.false(db.setNetworkConfig({ config: '{"version":2}', signature: 'c2ln' }, 2, T0 + 2));
  t.deepEqual(db.getNetworkConfig(), { signed: { config: '{"version":2}', signature: 'c2ln' }, version: 2, storedAtMs: T0 });
  t.true(db.setNetworkConfig({ config: '{"version":3}', signature: 'bmV3' }, 3, T0 + 3));
  t.is(db.getNetworkConfig()?.version, 3);
});

test('a file DB keeps dead flags, RTT and config across reopen, in WAL mode', (t) => {
  const path = join(tempDir(t), 'peers.db');
  const first = new PeerDb(path, { rand: noJitter });
  first.upsertPeer({ prefix: P1, addresses: ['10.0.0.1:1194'], source: 'registry', certSerial: '1a' }, T0);
  first.upsertPeer({ prefix: P2, addresses: ['10.0.0.2:1194'], source: 'lan' }, T0);
  for (let i = 0; i < 3; i++) first.recordFailure(P1, 'connection refused', T0 + i);
  first.setRtt(P2, 12.5, T0 + 5);
  first.setNetworkConfig({ config: '{}', signature: 'AA==' }, 4, T0);
  first.close();

  const again = new PeerDb(path);
  t.teardown(() => again.close());
  t.like(again.getPeer(P1), { dead: true, deadReason: '3 failed attempts (connection refused)', deadSinceMs: T0 + 2, certSerial: '1a', retryAtMs: T0 + 2 + 120_000, lastFailureMs: T0 + 2 });
  t.like(again.getPeer(P2), { rttMs: 12.5, lastSeenMs: T0 + 5, source: 'lan' });
  t.is(again.getNetworkConfig()?.version, 4);
  const raw = new Database(path, { readonly: true });
  t.teardown(() => raw.close());
  t.is(raw.pragma('journal_mode', { simple: true }), 'wal');
  t.is(raw.pragma('user_version', { simple: true }), SCHEMA_VERSION);
});

test('migration path: a version-1 file is upgraded and keeps its peers', (t) => {
  const path = join(tempDir(t), 'peers.db');
  const old = new Database(path);
  t.deepEqual(migrate(old, 1), { from: 0, to: 1 });
  old.prepare(`INSERT INTO peers (prefix, addresses, source, first_seen_ms, last_seen_ms, failures, dead, dead_since_ms, dead_reason, retry_at_ms)
               VALUES (?, '["10.0.0.1:1194"]', 'registry', ?, ?, 3, 1, ?, '3 failed attempts (timeout)', 0)`).run(P1, T0, T0, T0);
  old.close();

  const db = new PeerDb(path);
  t.teardown(() => db.close());
  t.like(db.getPeer(P1), { dead: true, deadCause: 'failures', deadReason: '3 failed attempts (timeout)' });
  t.true(db.setNetworkConfig({ config: '{}', signature: 'AA==' }, 1, T0));
  t.is(MIGRATIONS.length, SCHEMA_VERSION);
});

test('migration path: a version-2 file upgrades "marked" to "revoked" (never retried) and keeps dead-of-failures peers retryable', (t) => {
  const path = join(tempDir(t), 'peers.db');
  const old = new Database(path);
  t.deepEqual(migrate(old, 2), { from: 0, to: 2 });
  const insert = old.prepare(`INSERT INTO peers (prefix, addresses, source, first_seen_ms, last_seen_ms, failures, dead, dead_since_ms, dead_reason, dead_cause, retry_at_ms)
               VALUES (?, '["10.0.0.1:1194"]', 'registry', ?, ?, ?, ?, ?, ?, ?, ?)`);
  insert.run(P1, T0, T0, 3, 1, T0, '3 failed attempts (timeout)', 'failures', T0 + 3_600_000);
  insert.run(P2, T0, T0, 0, 1, T0, 'certificate 2b revoked', 'marked', T0 + 3_600_000);
  insert.run(P3, T0, T0, 1, 0, null, null, null, T0 + 30_000);
  old.close();

  const db = new PeerDb(path);
  t.teardown(() => db.close());
  t.like(db.getPeer(P1), { dead: true, deadCause: 'failures', retryAtMs: T0 + 3_600_000, lastFailureMs: null });
  t.like(db.getPeer(P2), { dead: true, deadCause: 'revoked', retryAtMs: 0, deadReason: 'certificate 2b revoked' });
  t.like(db.getPeer(P3), { dead: false, deadCause: null, failures: 1, retryAtMs: T0 + 30_000 });
  t.deepEqual(db.dueForRetry(T0 + 3_600_000).map((p) => p.prefix), [P1]);
  const raw = new Database(path);
  t.teardown(() => raw.close());
  t.is(raw.pragma('integrity_check', { simple: true }), 'ok');
  const err = t.throws(() => raw.prepare("UPDATE peers SET dead_cause = 'marked' WHERE prefix = ?").run(P1), { any: true }, 'the old cause is gone from the schema');
  t.is((err as { code?: string }).code, 'SQLITE_CONSTRAINT_CHECK');
});

test('a DB from a newer resilnet is refused with a clear code', (t) => {
  const path = join(tempDir(t), 'peers.db');
  const future = new Database(path);
  future.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
  future.close();
  const err = t.throws(() => new PeerDb(path));
  t.is((err as { code?: string }).code, 'RN_PEERDB_SCHEMA_NEWER');
});

test('an unopenable path fails with RN_PEERDB_OPEN', (t) => {
  const err = t.throws(() => new PeerDb('/nonexistent-dir-rn/peers.db'));
  t.is((err as { code?: string }).code, 'RN_PEERDB_OPEN');
});

test('a report that only moves lastSeenMs by less than its grain is not written; any other change is', (t) => {
  const db = new PeerDb(':memory:');
  t.teardown(() => db.close());
  const report = { prefix: P1, addresses: ['10.0.0.1:1194'], source: 'peer' as const, certSerial: '01' };
  db.upsertPeer(report, T0);
  db.upsertPeer(report, T0 + LAST_SEEN_GRAIN_MS - 1);
  t.is(db.getPeer(P1)?.lastSeenMs, T0, 'same report inside the grain: nothing written');
  db.upsertPeer(report, T0 + LAST_SEEN_GRAIN_MS);
  t.is(db.getPeer(P1)?.lastSeenMs, T0 + LAST_SEEN_GRAIN_MS, 'a grain later: written');
  db.upsertPeer({ ...report, certSerial: '02' }, T0 + LAST_SEEN_GRAIN_MS + 1);
  t.like(db.getPeer(P1), { certSerial: '02', lastSeenMs: T0 + LAST_SEEN_GRAIN_MS + 1 }, 'a new serial: written at once');
  db.upsertPeer({ ...report, certSerial: '02', addresses: ['10.0.0.9:1194', '10.0.0.1:1194'] }, T0 + LAST_SEEN_GRAIN_MS + 2);
  t.deepEqual(db.getPeer(P1)?.addresses, ['10.0.0.9:1194', '10.0.0.1:1194'], 'new addresses: written at once');
  db.upsertPeer({ ...report, certSerial: '02', addresses: ['10.0.0.9:1194', '10.0.0.1:1194'], source: 'registry' }, T0 + LAST_SEEN_GRAIN_MS + 3);
  t.is(db.getPeer(P1)?.source, 'registry', 'a stronger source: written at once');
});

test('a round trip is written with lastSeenMs once a grain, or at once when it doubled or halved (by 5 ms at least)', (t) => {
  const db = new PeerDb(':memory:');
  t.teardown(() => db.close());
  db.upsertPeer({ prefix: P1, addresses: ['10.0.0.1:1194'], source: 'peer' }, T0);
  t.true(db.setRtt(P1, 12, T0 + 1));
  t.like(db.getPeer(P1), { rttMs: 12, lastSeenMs: T0 + 1 }, 'the first: written');
  t.true(db.setRtt(P1, 20, T0 + 2));
  t.like(db.getPeer(P1), { rttMs: 12, lastSeenMs: T0 + 1 }, 'jitter within the grain: not written');
  t.true(db.setRtt(P1, 24, T0 + 3));
  t.like(db.getPeer(P1), { rttMs: 24, lastSeenMs: T0 + 3 }, 'doubled: written at once');
  t.true(db.setRtt(P1, 15, T0 + 3 + LAST_SEEN_GRAIN_MS));
  t.like(db.getPeer(P1), { rttMs: 15, lastSeenMs: T0 + 3 + LAST_SEEN_GRAIN_MS }, 'a grain later: written, with the round trip measured then');
  t.false(db.setRtt(P2, 5, T0), 'an unknown peer');
  t.false(rttMoved(0.4, 4), 'ten times, but below 5 ms: noise on a LAN');
  t.true(rttMoved(3, 9));
  t.true(rttMoved(40, 19));
  t.false(rttMoved(40, 21));
  t.true(rttMoved(null, 3));
});

test('a batch of refreshes is one transaction: a peer list\'s 31 peers write their pages once, and a write that fails inside is undone alone', (t) => {
  const dir = tempDir(t);
  const prefixes = Array.from({ length: 31 }, (_, i) => `fd00:1:0:${(i + 10).toString(16)}::/64`);
  const walGrowth = (batched: boolean): number => {
    const path = join(dir, `peers-${batched}.db`);
    const db = new PeerDb(path);
    try {
      for (const p of prefixes) db.upsertPeer({ prefix: p, addresses: ['10.0.0.1:1194'], source: 'peer' }, T0);
      const before = statSync(`${path}-wal`).size;
      const refresh = () => prefixes.forEach((p) => db.upsertPeer({ prefix: p, addresses: ['10.0.0.1:1194'], source: 'peer' }, T0 + LAST_SEEN_GRAIN_MS));
      if (batched) db.batch(refresh);
      else refresh();
      t.true(prefixes.every((p) => db.getPeer(p)?.lastSeenMs === T0 + LAST_SEEN_GRAIN_MS));
      return statSync(`${path}-wal`).size - before;
    } finally {
      db.close();
    }
  };
  const one = walGrowth(true);
  const each = walGrowth(false);
  t.true(one > 0 && one * 5 < each, `WAL growth: ${one} bytes in one transaction, ${each} in ${prefixes.length}`);

  const db = new PeerDb(':memory:');
  t.teardown(() => db.close());
  db.batch(() => {
    db.upsertPeer({ prefix: P1, addresses: ['10.0.0.1:1194'], source: 'peer' }, T0);
    t.throws(() => db.upsertPeer({ prefix: 'not a prefix', addresses: [], source: 'peer' }, T0));
    db.upsertPeer({ prefix: P2, addresses: ['10.0.0.2:1194'], source: 'peer' }, T0);
  });
  t.truthy(db.getPeer(P1));
  t.truthy(db.getPeer(P2));
});

test('worthWriting compares every field but lastSeenMs', (t) => {
  const base = { prefix: P1, addresses: ['a'], source: 'peer' as const, firstSeenMs: T0, lastSeenMs: T0, lastSuccessMs: null, failures: 0, lastFailure: null, lastFailureMs: null, dead: false, deadSinceMs: null, deadReason: null, deadCause: null, retryAtMs: 0, rttMs: 3, certSerial: null };
  t.false(worthWriting(base, { ...base, addresses: ['a'], lastSeenMs: T0 + 1 }));
  t.true(worthWriting(base, { ...base, lastSeenMs: T0 + LAST_SEEN_GRAIN_MS }));
  t.true(worthWriting(base, { ...base, rttMs: 4 }));
  t.true(worthWriting(base, { ...base, addresses: ['b'] }));
  t.true(worthWriting(base, { ...base, addresses: ['a', 'b'] }));
  t.true(worthWriting(base, { ...base, dead: true }));
});
