// Node counts per state from one counting query (the metrics scrape), checked against
// the states the service gives each node row (admin `registry nodes`).
import test from 'ava';
import { pino } from 'pino';
import { RegistryDb, type NodeState } from '../../registry/db.js';
import { registryConfigSchema } from '../../registry/registry-config.js';
import { RegistryService } from '../../registry/service.js';
import { NOW_MS, makeCa } from '../pki/pki-fixture.js';

const OFFLINE_AFTER_SEC = 600;

/** Nodes 1..6: heard now, heard exactly at the offline limit, heard before it, never heard, revoked after a heartbeat, revoked unheard. */
function fill(db: RegistryDb): void {
  const heartbeat = (i: number, nowMs: number) =>
    db.recordHeartbeat({ prefix: `fd5e:1:0:${i}::/64`, nowMs, seenAddress: '192.0.2.1', port: 1194, addresses: [], tunnels: [], configVersion: 1, natClass: null });
  for (let i = 1; i <= 6; i++) {
    db.insertNode({ prefix: `fd5e:1:0:${i}::/64`, prefixIndex: i, keySha256: `key${i}`, email: null, tokenId: null, enrolledAtMs: NOW_MS - 86_400_000, expiresAtMs: NOW_MS + 86_400_000 });
  }
  heartbeat(1, NOW_MS);
  heartbeat(2, NOW_MS - OFFLINE_AFTER_SEC * 1000);
  heartbeat(3, NOW_MS - OFFLINE_AFTER_SEC * 1000 - 1);
  heartbeat(5, NOW_MS);
  db.revokeNode('fd5e:1:0:5::/64', NOW_MS);
  db.revokeNode('fd5e:1:0:6::/64', NOW_MS);
}

test('the store counts nodes per state in one query; every state is present', (t) => {
  const db = new RegistryDb(':memory:');
  t.teardown(() => db.close());
  t.deepEqual(db.nodeStateCounts(NOW_MS), { online: 0, offline: 0, 'never-seen': 0, revoked: 0 });
  fill(db);
  t.deepEqual(db.nodeStateCounts(NOW_MS - OFFLINE_AFTER_SEC * 1000), { online: 2, offline: 1, 'never-seen': 1, revoked: 2 });
  // Later, node 2's heartbeat is past the limit too.
  t.deepEqual(db.nodeStateCounts(NOW_MS - OFFLINE_AFTER_SEC * 1000 + 1), { online: 1, offline: 2, 'never-seen': 1, revoked: 2 });
});

test("the service's counts agree with the state of each node it lists", async (t) => {
  const db = new RegistryDb(':memory:');
  t.teardown(() => db.close());
  const config = registryConfigSchema.parse({ network: { prefix: 'fd5e:1::/48', node_prefix_length: 64 }, liveness: { offline_after_sec: OFFLINE_AFTER_SEC } });
  const service = new RegistryService({
    db, ca: await makeCa('fd5e:1::/48'), config, registryUrls: ['https://127.0.0.1:8443'], nowMs: () => NOW_MS, rand: Math.random, log: pino({ level: 'silent' }),
  });
  await service.start();
  fill(db);
  const tally: Record<NodeState, number> = { online: 0, offline: 0, 'never-seen': 0, revoked: 0 };
  for (const n of service.listNodes()) tally[n.state]++;
  t.is(service.listNodes().length, 6);
  t.deepEqual(service.nodeCounts(), tally);
});
