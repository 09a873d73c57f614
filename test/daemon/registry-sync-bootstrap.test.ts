// A node short of peers asks the registry again within seconds (1, 2, 4 … s, up
// to the heartbeat interval), not a heartbeat later: in a network that is just
// starting, the registry's first answers hold only the nodes already seen.
import test from 'ava';
import { pino } from 'pino';
import { HealthRegistry } from '../../daemon/health/health.js';
import { RegistrySync, type RegistryApi } from '../../daemon/registry-sync.js';
import { FakeClock } from '../fakes/fake-clock.js';

function setup() {
  const clock = new FakeClock(1_000_000);
  const log = pino({ level: 'silent' });
  const bootstraps: number[] = [];
  let live = 0;
  const urls: string[] = [];
  const api: RegistryApi = {
    heartbeat: async () => ({ seen_address: '10.1.0.5', network_config_version: 1 }),
    bootstrap: async () => {
      bootstraps.push(clock.nowMs() - 1_000_000);
      return { peers: [] };
    },
    networkConfig: async () => ({ config: '{}', signature: 'AA==' }),
    crl: async () => '',
    renew: async () => ({ certificate: '' }),
  };
  const sync = new RegistrySync(
    { url: 'https://10.0.0.1:8443', heartbeatIntervalMs: 60_000, minLivePeers: 4, bootstrapCount: 16, renewWindowMs: 0, callTimeoutMs: 5_000 },
    {
      clock,
      log,
      health: new HealthRegistry({ clock, log }),
      api: () => api,
      useUrl: (url) => urls.push(url),
      heartbeatBody: () => ({ port: 1194 }),
      livePeerCount: () => live,
      configVersion: () => 1,
      certificateNotAfterMs: () => clock.nowMs() + 365 * 86_400_000,
      createCsr: async () => 'CSR',
      onBootstrapPeers: () => undefined,
      onNetworkConfig: () => undefined,
      onCrl: () => undefined,
      onRenewed: () => undefined,
    },
  );
  return { clock, bootstraps, sync, setLive: (n: number) => (live = n) };
}

test('too few peers after a bootstrap: asked again after 1, 2, 4 … s, then the heartbeat interval again', async (t) => {
  const s = setup();
  s.sync.start();
  await s.clock.advance(40_000);
  t.deepEqual(s.bootstraps, [0, 1_000, 3_000, 7_000, 15_000, 31_000]);
  await s.clock.advance(70_000);
  t.deepEqual(s.bootstraps.slice(6), [63_000], 'then the regular heartbeat interval');
  await s.sync.stop();
});

test('enough peers: no quick retries', async (t) => {
  const s = setup();
  s.sync.start();
  await s.clock.advance(1);
  s.setLive(4);
  await s.clock.advance(59_000);
  t.deepEqual(s.bootstraps, [0]);
  await s.sync.stop();
  t.is(s.clock.pendingTimers(), 0);
});
