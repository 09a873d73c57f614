import test from 'ava';
import { effectiveSettings } from '../../daemon/settings.js';
import { DEFAULT_TUNNEL_POLICY } from '../../daemon/tunnels/plan.js';
import { network, nodeConfig } from './settings-fixture.js';

test('without overrides every value comes from the network config', (t) => {
  const s = effectiveSettings(nodeConfig(), network);
  t.deepEqual(s.babel, { helloIntervalSec: 4 });
  t.is(s.tunnels.clientCount, 4);
  t.is(s.tunnels.manager.maxClients, 10);
  t.is(s.tunnels.policy.refreshIntervalMs, 300_000);
  t.deepEqual(s.tunnels.dataCiphers, ['AES-256-GCM', 'AES-128-GCM']);
  t.is(s.start.networkPrefix, 'fd5e:1:2::/48');
  t.is(s.registry.minLivePeers, 4);
});

test('a local override wins over the network config, and derived values follow it', (t) => {
  const s = effectiveSettings(nodeConfig('[babel]\nhello_interval = 0.5\n[tunnels]\nclient_count = 1\nmax_clients = 3\nrefresh = 60'), network);
  t.is(s.babel.helloIntervalSec, 0.5);
  t.is(s.tunnels.clientCount, 1);
  t.is(s.registry.minLivePeers, 2, 'never fewer than 2 live peers wanted');
  t.is(s.tunnels.manager.maxClients, 3);
  t.is(s.tunnels.policy.refreshIntervalMs, 60_000);
  t.deepEqual(s.upnp.ports.map((p) => p.port), [1194, 1195, 1196, 1197]);
});

test('drain timing follows the hello interval, with floors', (t) => {
  const slow = effectiveSettings(nodeConfig(), network).tunnels.manager;
  t.is(slow.drainTimeoutMs, 32_000, '8 hellos of 4 s');
  t.is(slow.drainAckTimeoutMs, 24_000);
  t.is(slow.drainSettleMs, 8_000, 'two hellos');
  const fast = effectiveSettings(nodeConfig('[babel]\nhello_interval = 0.25'), network).tunnels.manager;
  t.is(fast.drainTimeoutMs, 20_000);
  t.is(fast.drainSettleMs, 1_000);
});

test('link hellos, registry, underlay, upnp and log come from the file', (t) => {
  const s = effectiveSettings(
    nodeConfig('[tunnels]\nlink_hello_interval = 0.5\nlink_hello_misses = 6\nlink_idle_pace = 3\nmin_age = 30\n[underlay]\nport = 2000\naddresses = ["192.0.2.1"]\n[upnp]\nlease = 600'),
    network,
  );
  t.deepEqual(s.links, { helloIntervalSec: 0.5, misses: 6, beats: true, idlePace: 3 });
  t.is(s.tunnels.policy.minTunnelAgeMs, 30_000);
  t.is(s.tunnels.policy.busiestShare, DEFAULT_TUNNEL_POLICY.busiestShare);
  t.is(s.registry.heartbeatIntervalMs, 60_000);
  t.is(s.start.port, 2000);
  t.is(s.tunnels.manager.underlayPort, 2000);
  t.deepEqual(s.underlay.addresses, ['192.0.2.1']);
  t.deepEqual({ enabled: s.upnp.enabled, leaseSec: s.upnp.leaseSec, first: s.upnp.ports[0] }, { enabled: true, leaseSec: 600, first: { port: 2000, protocol: 'UDP' } });
  t.is(s.log.level, 'info');
  t.is(effectiveSettings(nodeConfig(), network, { logLevel: 'debug' }).log.level, 'debug', 'the command line wins');
});

test('the result is deep-frozen and the configs are not shared', (t) => {
  const cfg = nodeConfig('[tunnels]\nneighbours = ["fd5e:1:2:7::/64"]');
  const s = effectiveSettings(cfg, network);
  t.true(Object.isFrozen(s));
  t.true(Object.isFrozen(s.tunnels.manager));
  t.true(Object.isFrozen(s.tunnels.neighbours));
  t.true(Object.isFrozen(s.upnp.ports[0]));
  t.not(s.tunnels.neighbours, cfg.tunnels.neighbours);
  t.throws(() => {
    (s.babel as { helloIntervalSec: number }).helloIntervalSec = 1;
  });
});

test('the same inputs give equal settings (pure)', (t) => {
  t.deepEqual(effectiveSettings(nodeConfig(), network), effectiveSettings(nodeConfig(), network));
});
