import test from 'ava';
import { pino } from 'pino';
import { ResilnetError } from '../../config/errors.js';
import { HealthRegistry } from '../../daemon/health/health.js';
import { RegistrySync, type RegistryApi } from '../../daemon/registry-sync.js';
import { FakeClock } from '../fakes/fake-clock.js';

const DAY_MS = 86_400_000;

function setup(over: { version?: number; live?: number; notAfterMs?: number } = {}) {
  const clock = new FakeClock(1_000_000);
  const log = pino({ level: 'silent' });
  const health = new HealthRegistry({ clock, log });
  const calls: string[] = [];
  const urls: string[] = [];
  const got = { bootstrap: 0, configs: 0, crls: 0, renewed: '' };
  let down = false;
  const api: RegistryApi = {
    async heartbeat() {
      calls.push('heartbeat');
      if (down) throw new ResilnetError('RN_REGISTRY_UNREACHABLE', 'connect ECONNREFUSED');
      return { seen_address: '10.1.0.5', network_config_version: 3 };
    },
    async bootstrap(count) {
      calls.push(`bootstrap ${count}`);
      return { peers: [{ prefix: 'fd5e:1:2:8::/64', addresses: ['10.1.0.8:1194'], last_seen: new Date(0).toISOString() }] };
    },
    async networkConfig() {
      calls.push('network-config');
      return { config: '{}', signature: 'AA==' };
    },
    async crl() {
      calls.push('crl');
      return '-----BEGIN X509 CRL-----';
    },
    async renew() {
      calls.push('renew');
      return { certificate: 'NEWCERT' };
    },
  };
  const stop = new AbortController();
  const sync = new RegistrySync(
    { url: 'https://10.0.0.1:8443', heartbeatIntervalMs: 60_000, minLivePeers: 2, bootstrapCount: 8, renewWindowMs: 30 * DAY_MS, callTimeoutMs: 5000 },
    {
      clock,
      log,
      health,
      api: () => api,
      useUrl: (url) => urls.push(url),
      heartbeatBody: () => ({ port: 1194 }),
      livePeerCount: () => over.live ?? 5,
      configVersion: () => over.version ?? 3,
      certificateNotAfterMs: () => over.notAfterMs ?? clock.nowMs() + 300 * DAY_MS,
      createCsr: async () => 'CSR',
      onBootstrapPeers: (p) => void (got.bootstrap += p.length),
      onNetworkConfig: () => void got.configs++,
      onCrl: () => void got.crls++,
      onRenewed: (pem) => void (got.renewed = pem),
    },
  );
  return { clock, health, calls, urls, got, sync, stop, setDown: (v: boolean) => (down = v) };
}

test('a healthy node only sends heartbeats', async (t) => {
  const s = setup();
  await s.sync.tick(s.stop.signal);
  t.deepEqual(s.calls, ['heartbeat']);
  t.is(s.sync.status().lastError, null);
});

test('a newer config version fetches config and CRL; too few live peers bootstraps; near expiry renews', async (t) => {
  const s = setup({ version: 2, live: 1, notAfterMs: 1_000_000 + 10 * DAY_MS });
  await s.sync.tick(s.stop.signal);
  t.deepEqual(s.calls, ['heartbeat', 'network-config', 'crl', 'bootstrap 8', 'renew']);
  t.deepEqual(s.got, { bootstrap: 1, configs: 1, crls: 1, renewed: 'NEWCERT' });
});

test('registry down: a health item after 3 intervals, cleared on the next contact, and the schedule goes on', async (t) => {
  const s = setup();
  s.setDown(true);
  s.sync.start();
  await s.clock.advance(1);
  t.regex(s.sync.status().lastError ?? '', /RN_REGISTRY_UNREACHABLE/);
  t.deepEqual(s.health.list(), []);
  await s.clock.advance(3 * 60_000);
  t.deepEqual(s.health.list().map((h) => h.code), ['RN_REGISTRY_UNREACHABLE']);
  s.setDown(false);
  await s.clock.advance(60_000);
  t.deepEqual(s.health.list(), []);
  t.is(s.calls.filter((c) => c === 'heartbeat').length, 5);
  await s.sync.stop();
});

test('reconfigure: a new URL is handed over, a new interval sets the heartbeat schedule, a refused URL throws (the caller keeps the old slice)', async (t) => {
  const s = setup();
  const base = { url: 'https://10.0.0.1:8443', heartbeatIntervalMs: 60_000, minLivePeers: 2, bootstrapCount: 8, renewWindowMs: 30 * DAY_MS, callTimeoutMs: 5000 };
  s.sync.start();
  await s.clock.advance(1);
  t.deepEqual(s.sync.reconfigure({ ...base, heartbeatIntervalMs: 10_000 }), { applied: true });
  t.deepEqual(s.urls, [], 'same URL: the client is kept');
  await s.clock.advance(30_000);
  t.is(s.calls.filter((c) => c === 'heartbeat').length, 4, 'one at start, then every 10 s');

  s.sync.reconfigure({ ...base, url: 'https://10.0.0.2:8443' });
  t.deepEqual(s.urls, ['https://10.0.0.2:8443']);

  const refusing = new RegistrySync(base, {
    clock: s.clock, log: pino({ level: 'silent' }), health: s.health, api: () => { throw new Error('unused'); },
    useUrl: () => { throw new ResilnetError('RN_REGISTRY_URL_INVALID', 'must start with https://'); },
    heartbeatBody: () => ({ port: 1194 }), livePeerCount: () => 5, configVersion: () => 3, certificateNotAfterMs: () => Infinity,
    createCsr: async () => 'CSR', onBootstrapPeers: () => undefined, onNetworkConfig: () => undefined, onCrl: () => undefined, onRenewed: () => undefined,
  });
  t.throws(() => refusing.reconfigure({ ...base, url: 'http://x' }), { message: /https/ });
  await s.sync.stop();
});
