import test from 'ava';
import { pino } from 'pino';
import { EventLog } from '../../../daemon/events.js';
import { HealthRegistry } from '../../../daemon/health/health.js';
import { statusView, type NodeParts } from '../../../daemon/node/control-views.js';
import { effectiveSettings } from '../../../daemon/settings.js';
import { FakeClock } from '../../fakes/fake-clock.js';
import { network, nodeConfig } from '../settings-fixture.js';

function parts(over: Partial<NodeParts> = {}): NodeParts {
  const clock = new FakeClock(1_000_000);
  const log = pino({ level: 'silent' });
  return {
    startedAtMs: 990_000,
    nowMs: clock.nowMs(),
    identity: { caPem: '', certPem: '', keyPem: '', cert: { prefix: 'fd5e:1:2:3::/64', serial: 'ab', notAfterMs: 2e12 } } as unknown as NodeParts['identity'],
    held: { signed: { config: '{}', signature: 'AA==' }, config: network, origin: 'registry' },
    settings: effectiveSettings(nodeConfig('[babel]\nhello_interval = 0.25'), network),
    peerDb: { listPeers: () => [] } as unknown as NodeParts['peerDb'],
    babel: undefined,
    manager: undefined,
    peerproto: undefined,
    registrySync: undefined,
    addresses: undefined,
    links: undefined,
    destTraffic: undefined,
    health: new HealthRegistry({ clock, log }),
    events: new EventLog({ clock }),
    ...over,
  };
}

test('status shows the hello interval babeld runs, not the one asked for', (t) => {
  const babel = { helloIntervalSec: 4, status: () => ({ running: true, pid: 7, routes: 0, neighbours: 0 }) } as unknown as NodeParts['babel'];
  const s = statusView(parts({ babel }));
  t.is(s.networkConfig.helloIntervalSec, 4);
  t.is(s.uptimeSec, 10);
});

test('status shows the running tunnel counts and registry from the live settings', (t) => {
  const s = statusView(parts());
  t.deepEqual(
    { hello: s.networkConfig.helloIntervalSec, clients: s.networkConfig.clientCount, max: s.networkConfig.maxClients, refresh: s.networkConfig.tunnelRefreshSec, url: s.registry.url, port: s.peerProtocol.port },
    { hello: 0.25, clients: 4, max: 10, refresh: 300, url: 'https://10.0.0.1:8443', port: 1194 },
  );
});

test('status before the settings exist says the daemon is still starting', (t) => {
  t.throws(() => statusView(parts({ settings: undefined })), { code: 'RN_DAEMON_NOT_READY' });
});
