import test from 'ava';
import { NodeMetrics } from '../../../daemon/metrics/node-metrics.js';
import { selectPeers, type NodeMetricsSnapshot } from '../../../daemon/metrics/node-snapshot.js';
import { find, parseExposition, value } from '../../metrics/exposition.js';

const A = 'fd00:1:0:2::/64';
const B = 'fd00:1:0:3::/64';
const far = (i: number) => `fd00:1:0:${(100 + i).toString(16)}::/64`;

function snapshot(over: Partial<NodeMetricsSnapshot> = {}): NodeMetricsSnapshot {
  return {
    prefix: 'fd00:1:0:1::/64',
    nowMs: 1_000_000,
    startedAtMs: 940_000,
    tunnels: [
      { peer: A, direction: 'outgoing', state: 'up', rxBytes: 5000, txBytes: 7000, routes: 3 },
      { peer: B, direction: 'incoming', state: 'connecting', rxBytes: null, txBytes: null, routes: 0 },
    ],
    links: [{ peer: A, state: 'alive', flaps: 2 }],
    destinations: [],
    rttMs: new Map([[A, 12], [far(1), 40]]),
    peers: { live: 5, dead: 2 },
    babel: { running: true, answering: true, routes: 4, neighbours: 1 },
    registryLastContactMs: 990_000,
    certificateNotAfterMs: 2_000_000_000_000,
    eventLoopDelayMs: 250,
    ...over,
  };
}

test('tunnels, links and node-wide values are read from the snapshot', async (t) => {
  const e = parseExposition(await new NodeMetrics(() => snapshot(), { topPeers: 10 }).scrape());
  t.is(value(e, 'resilnet_peer_tunnel_state', { peer: A, direction: 'outgoing', state: 'up' }), 1);
  t.is(value(e, 'resilnet_peer_tunnel_state', { peer: A, direction: 'outgoing', state: 'connecting' }), 0);
  t.is(value(e, 'resilnet_peer_tunnel_state', { peer: B, direction: 'incoming', state: 'connecting' }), 1);
  t.is(value(e, 'resilnet_peer_receive_bytes_total', { peer: A }), 5000);
  t.is(value(e, 'resilnet_peer_transmit_bytes_total', { peer: A }), 7000);
  t.deepEqual(find(e, 'resilnet_peer_receive_bytes_total', { peer: B }), [], 'no counter before the first traffic sample');
  t.is(value(e, 'resilnet_peer_link_state', { peer: A, state: 'alive' }), 1);
  t.is(value(e, 'resilnet_peer_link_flaps', { peer: A }), 2);
  t.is(value(e, 'resilnet_peer_routes', { peer: A }), 3);
  t.is(value(e, 'resilnet_peer_rtt_seconds', { peer: A }), 0.012);
  t.deepEqual(find(e, 'resilnet_peer_rtt_seconds', { peer: far(1) }), [], 'a peer without tunnel or traffic gets no series');
  t.is(value(e, 'resilnet_tunnels', { direction: 'outgoing', state: 'up' }), 1);
  t.is(value(e, 'resilnet_tunnels', { direction: 'incoming', state: 'connecting' }), 1);
  t.is(value(e, 'resilnet_tunnels', { direction: 'incoming', state: 'up' }), 0);
  t.is(value(e, 'resilnet_peers', { state: 'dead' }), 2);
  t.is(value(e, 'resilnet_peers', { state: 'live' }), 5);
  t.is(value(e, 'resilnet_babel_routes'), 4);
  t.is(value(e, 'resilnet_babel_neighbours'), 1);
  t.is(value(e, 'resilnet_babeld_up'), 1);
  t.is(value(e, 'resilnet_registry_last_contact_age_seconds'), 10);
  t.is(value(e, 'resilnet_certificate_expiry_timestamp_seconds'), 2_000_000_000);
  t.is(value(e, 'resilnet_event_loop_delay_seconds'), 0.25);
  t.is(value(e, 'resilnet_uptime_seconds'), 60);
  t.is(value(e, 'resilnet_node_info', { prefix: 'fd00:1:0:1::/64' }), 1);
  t.is(e.types.get('resilnet_peer_receive_bytes_total'), 'counter');
  t.true(value(e, 'process_resident_memory_bytes') > 0);
});

test('a node that never reached the registry reports the time since its start', async (t) => {
  const e = parseExposition(await new NodeMetrics(() => snapshot({ registryLastContactMs: null, babel: null }), { topPeers: 10 }).scrape());
  t.is(value(e, 'resilnet_registry_last_contact_age_seconds'), 60);
  t.is(value(e, 'resilnet_babeld_up'), 0);
});

test('each scrape reads a new snapshot: a closed tunnel leaves no series behind', async (t) => {
  let s = snapshot();
  const m = new NodeMetrics(() => s, { topPeers: 10 });
  t.is(find(parseExposition(await m.scrape()), 'resilnet_peer_tunnel_state', { peer: A }).length, 3);
  s = snapshot({ tunnels: [], links: [] });
  const e = parseExposition(await m.scrape());
  t.deepEqual(find(e, 'resilnet_peer_tunnel_state', { peer: A }), []);
  t.is(value(e, 'resilnet_tunnels', { direction: 'outgoing', state: 'up' }), 0);
});

test('per-peer series stay bounded: tunnel peers plus the top N destinations by traffic', async (t) => {
  const destinations = Array.from({ length: 50 }, (_, i) => ({ prefix: far(i), rxBytesPerSec: i * 100, txBytesPerSec: 1 }));
  destinations.push({ prefix: A, rxBytesPerSec: 1, txBytesPerSec: 1 });
  const rttMs = new Map(destinations.map((d) => [d.prefix, 5] as const));
  const s = snapshot({ destinations, rttMs });
  t.deepEqual(selectPeers(s, 3).sort(), [A, B, far(49), far(48), far(47)].sort());
  const e = parseExposition(await new NodeMetrics(() => s, { topPeers: 3 }).scrape());
  const peers = new Set(e.samples.filter((x) => x.name.startsWith('resilnet_peer_')).map((x) => x.labels.peer).filter(Boolean));
  t.deepEqual([...peers].sort(), [A, B, far(47), far(48), far(49)].sort());
  t.is(value(e, 'resilnet_peer_traffic_bytes_per_second', { peer: far(49), direction: 'receive' }), 4900);
  t.is(value(e, 'resilnet_peer_rtt_seconds', { peer: far(48) }), 0.005);
  t.is(value(e, 'resilnet_peer_series_omitted'), 47);
});

test('child restarts and reloads are counted by kind, and start at 0', async (t) => {
  const m = new NodeMetrics(() => snapshot(), { topPeers: 10 });
  let e = parseExposition(await m.scrape());
  t.is(value(e, 'resilnet_child_restarts_total', { child: 'openvpn' }), 0);
  t.is(value(e, 'resilnet_reloads_total', { result: 'refused' }), 0);
  m.childRestarted(`openvpn to ${A}`);
  m.childRestarted(`openvpn from ${B}`);
  m.childRestarted('babeld');
  m.reloaded('applied');
  m.reloaded('refused');
  e = parseExposition(await m.scrape());
  t.is(value(e, 'resilnet_child_restarts_total', { child: 'openvpn' }), 2);
  t.is(value(e, 'resilnet_child_restarts_total', { child: 'babeld' }), 1);
  t.is(value(e, 'resilnet_reloads_total', { result: 'applied' }), 1);
  t.is(value(e, 'resilnet_reloads_total', { result: 'refused' }), 1);
  t.is(value(e, 'resilnet_reloads_total', { result: 'failed' }), 0);
});

test('two instances keep their own registries', async (t) => {
  const a = new NodeMetrics(() => snapshot(), { topPeers: 1 });
  const b = new NodeMetrics(() => snapshot({ peers: { live: 9, dead: 0 } }), { topPeers: 1 });
  a.reloaded('applied');
  const [ea, eb] = [parseExposition(await a.scrape()), parseExposition(await b.scrape())];
  t.is(value(ea, 'resilnet_reloads_total', { result: 'applied' }), 1);
  t.is(value(eb, 'resilnet_reloads_total', { result: 'applied' }), 0);
  t.is(value(eb, 'resilnet_peers', { state: 'live' }), 9);
});
