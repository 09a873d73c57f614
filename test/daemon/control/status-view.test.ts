import test from 'ava';
import { pino } from 'pino';
import { HealthRegistry } from '../../../daemon/health/health.js';
import { statusView } from '../../../daemon/node/control-views.js';
import type { RunningParts } from '../../../daemon/node/parts.js';
import { effectiveSettings } from '../../../daemon/settings.js';
import { FakeClock } from '../../fakes/fake-clock.js';
import { network, nodeConfig } from '../settings-fixture.js';

const clock = new FakeClock(1_000_000);
const context = { startedAtMs: 990_000, nowMs: clock.nowMs(), health: new HealthRegistry({ clock, log: pino({ level: 'silent' }) }) };

/** A node whose file asks for a 0.25 s hello interval. */
function parts(over: RunningParts = {}): RunningParts {
  return {
    identity: { caPem: '', certPem: '', keyPem: '', cert: { prefix: 'fd5e:1:2:3::/64', serial: 'ab', notAfterMs: 2e12 } } as unknown as RunningParts['identity'],
    network: { held: { signed: { config: '{}', signature: 'AA==' }, config: network, origin: 'registry' } } as unknown as RunningParts['network'],
    settings: { current: effectiveSettings(nodeConfig('[babel]\nhello_interval = 0.25'), network) } as unknown as RunningParts['settings'],
    peerDb: { listPeers: () => [] } as unknown as RunningParts['peerDb'],
    ...over,
  };
}

test('status shows the hello interval babeld runs, not the one asked for', (t) => {
  const babel = { helloIntervalSec: 0.25, status: () => ({ running: true, pid: 7, routes: 0, neighbours: 0, helloIntervalSec: 4, desiredHelloIntervalSec: 0.25, answering: true, pending: ['interface rnA hello-interval 0.25'] }) } as unknown as RunningParts['babel'];
  const s = statusView(parts({ babel }), context);
  t.is(s.networkConfig.helloIntervalSec, 4);
  t.is(s.uptimeSec, 10);
});

test('status shows the running tunnel counts and registry from the live settings', (t) => {
  const s = statusView(parts(), context);
  t.deepEqual(
    { hello: s.networkConfig.helloIntervalSec, clients: s.networkConfig.clientCount, max: s.networkConfig.maxClients, refresh: s.networkConfig.tunnelRefreshSec, url: s.registry.url, port: s.peerProtocol.port },
    { hello: 0.25, clients: 4, max: 10, refresh: 300, url: 'https://10.0.0.1:8443', port: 1194 },
  );
});

test('status before the settings exist says the daemon is still starting', (t) => {
  t.throws(() => statusView({ ...parts(), settings: undefined }, context), { code: 'RN_DAEMON_NOT_READY' });
});
