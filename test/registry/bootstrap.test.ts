import test from 'ava';
import { bootstrapResponseSchema } from '../../wire/registry-api.js';
import { nodeEndpoints, pickBootstrapPeers as pick, toCandidates, type LiveNode } from '../../registry/bootstrap.js';

const pickBootstrapPeers = (nodes: LiveNode[], opts: Parameters<typeof pick>[1]) => pick(toCandidates(nodes), opts);

const NOW = 1_800_000_000_000;
const node = (i: number, over: Partial<LiveNode> = {}): LiveNode => ({
  prefix: `fd00:1:0:${i.toString(16)}::/64`,
  lastSeenMs: NOW - 1000,
  port: 1194,
  seenAddress: `198.51.100.${i}`,
  addresses: [{ address: `10.0.0.${i}`, kind: 'internal' }],
  natClass: null,
  ...over,
});

function seq(values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length]!;
}

test('endpoints: public and UPnP first, then the address seen, then internal; ports filled in', (t) => {
  const n = node(5, {
    addresses: [
      { address: '10.0.0.5', kind: 'internal' },
      { address: '203.0.113.9:4000', kind: 'upnp' },
      { address: 'fd99::5', kind: 'public' },
    ],
  });
  t.deepEqual(nodeEndpoints(n), ['[fd99::5]:1194', '203.0.113.9:4000', '198.51.100.5:1194', '10.0.0.5:1194']);
  t.deepEqual(nodeEndpoints(node(1, { seenAddress: '10.0.0.1' })), ['10.0.0.1:1194']);
  t.deepEqual(toCandidates([node(2, { port: null, addresses: [] })]), [], 'a node without a usable address is no candidate');
});

test('never the caller, never offline nodes, at most count', (t) => {
  const nodes = [node(1), node(2), node(3), node(4, { lastSeenMs: NOW - 10 * 60_000 })];
  const opts = { callerPrefix: node(1).prefix, count: 10, nowMs: NOW, offlineAfterMs: 5 * 60_000, rand: seq([0.5]) };
  const picked = pickBootstrapPeers(nodes, opts).map((p) => p.prefix).sort();
  t.deepEqual(picked, [node(2).prefix, node(3).prefix]);
  t.is(pickBootstrapPeers(nodes, { ...opts, count: 1 }).length, 1);
  t.deepEqual(pickBootstrapPeers([node(1)], opts), []);
  t.is(pickBootstrapPeers([node(2)], opts)[0]!.last_seen, new Date(NOW - 1000).toISOString());
});

test('the sample follows the random source', (t) => {
  const nodes = [node(1), node(2), node(3), node(4)];
  const opts = { callerPrefix: 'fd00:9::/64', count: 2, nowMs: NOW, offlineAfterMs: 60_000 };
  t.deepEqual(pickBootstrapPeers(nodes, { ...opts, rand: seq([0]) }).map((p) => p.prefix), [node(1).prefix, node(2).prefix]);
  t.deepEqual(pickBootstrapPeers(nodes, { ...opts, rand: seq([0.99]) }).map((p) => p.prefix), [node(4).prefix, node(1).prefix]);
});

test('endpoints: addresses no peer can use are skipped, the seen address too', (t) => {
  const bad = ['[fe80::1%eth0]:1194', '[fe80::1]', '127.0.0.1:9', '[::1]:1194', '169.254.1.1', '[::]:1', '0.0.0.0', '[ff02::1]:1194', '224.0.0.1'];
  const n = node(1, { seenAddress: '127.0.0.1', addresses: [...bad.map((address) => ({ address, kind: 'public' })), { address: '10.0.0.1', kind: 'internal' }] });
  t.deepEqual(nodeEndpoints(n), ['10.0.0.1:1194']);
  t.deepEqual(nodeEndpoints(node(2, { seenAddress: 'fe80::2%eth0', addresses: [] })), []);
  t.deepEqual(toCandidates([node(3, { seenAddress: '::1', addresses: [{ address: '[fe80::1%eth0]:1194', kind: 'public' }] })]), []);
});

test('nodes behind a NAT without UPnP are not offered; the others carry their class', (t) => {
  const nodes = [
    node(1, { natClass: 'public' }),
    node(2, { natClass: 'upnp' }),
    node(3, { natClass: 'eim' }),
    node(4, { natClass: 'apdm' }),
    node(5, { natClass: 'unknown' }),
    node(6),
    node(7, { natClass: 'carrier-grade' }),
  ];
  const opts = { callerPrefix: 'fd00:9::/64', count: 10, nowMs: NOW, offlineAfterMs: 60_000, rand: seq([0]) };
  const picked = pickBootstrapPeers(nodes, opts);
  t.deepEqual(
    picked.map((p) => [p.prefix, p.nat_class]),
    [[node(1).prefix, 'public'], [node(2).prefix, 'upnp'], [node(5).prefix, 'unknown'], [node(6).prefix, undefined], [node(7).prefix, undefined]],
  );
  t.false('nat_class' in picked[3]!, 'a node that did not say has no nat_class field (not a null one)');
});

test("the bootstrap answer with classes passes the client's validation; an unknown class reads as absent", (t) => {
  const peers = pickBootstrapPeers([node(1, { natClass: 'upnp' }), node(2)], { callerPrefix: 'fd00:9::/64', count: 2, nowMs: NOW, offlineAfterMs: 60_000, rand: seq([0]) });
  const parsed = bootstrapResponseSchema.parse(JSON.parse(JSON.stringify({ peers })));
  t.deepEqual(parsed.peers.map((p) => p.nat_class), ['upnp', undefined]);
  const later = { peers: [{ ...peers[0], nat_class: 'carrier-grade' }] };
  const tolerant = bootstrapResponseSchema.parse(later);
  t.is(tolerant.peers[0]!.nat_class, undefined);
  t.is(tolerant.peers[0]!.prefix, node(1).prefix);
});
