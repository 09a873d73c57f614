import test from 'ava';
import type { StatusResponse } from '../../../daemon/control/protocol.js';
import { Notifier, type NotifyMessage } from '../../../daemon/systemd/notify.js';
import { CONTACT_WAIT_MS, readiness, runningStatus } from '../../../daemon/systemd/readiness.js';
import { PINGS_PER_WATCHDOG_PERIOD, SystemdReporter } from '../../../daemon/systemd/reporter.js';
import { FakeClock, flushMicrotasks } from '../../fakes/fake-clock.js';

type Overrides = { [K in keyof StatusResponse]?: Partial<StatusResponse[K]> };

function status(o: Overrides = {}): StatusResponse {
  return {
    prefix: 'fd5e:1:2:7::/64',
    address: 'fd5e:1:2:7::1',
    networkPrefix: 'fd5e:1::/48',
    pid: 1,
    startedAtMs: 0,
    uptimeSec: 1,
    certificate: { serial: '01', notAfterMs: 1 },
    networkConfig: { version: 1, helloIntervalSec: 1, clientCount: 2, maxClients: 8, tunnelRefreshSec: 300, source: 'registry' },
    peers: { total: 3, live: 2, dead: 1, ...o.peers },
    tunnels: { outgoing: 2, incoming: 1, connecting: 0, ...o.tunnels },
    babeld: { running: true, pid: 9, routes: 3, neighbours: 2, helloIntervalSec: 1, desiredHelloIntervalSec: 1, answering: true, pending: [], ...o.babeld },
    registry: { url: 'https://reg:8443', lastContactMs: 5, lastError: null, ...o.registry },
    peerProtocol: { port: 1194, received: 0, sent: 0, dropped: 0, sentMac: 0, acceptedMac: 0, linkKeys: 0, refusals: {}, challengesSent: 0, endpointsConfirmed: 0, ...o.peerProtocol },
    underlay: { addresses: [], upnp: null, seenAddress: null },
    links: [
      { peer: 'a', interface: 'rn-a', state: 'alive', lastHelloMs: 1, lostSinceMs: null, flaps: 0 },
      { peer: 'b', interface: 'rn-b', state: 'lost', lastHelloMs: 1, lostSinceMs: 1, flaps: 1 },
    ],
    lan: null,
    nat: null,
    health: [],
  };
}

test('ready once babeld took its configuration and the registry or a peer answered', (t) => {
  t.deepEqual(readiness(status({ babeld: { running: false } }), 0), { ready: false, status: 'waiting for babeld to take its configuration' });
  t.false(readiness(status({ babeld: { answering: false } }), 0).ready);
  t.false(readiness(status({ babeld: { helloIntervalSec: null } }), 0).ready);
  const alone = status({ registry: { lastContactMs: null, lastError: 'connect ECONNREFUSED 10.0.0.1:8443' }, peerProtocol: { received: 4, dropped: 4 } });
  t.deepEqual(readiness(alone, 12_400), { ready: false, status: 'waiting for the registry or a peer to answer (12 s)' });
  // A peer that answered (a verified message) is contact enough, the registry may be down.
  t.true(readiness({ ...alone, peerProtocol: { ...alone.peerProtocol, received: 5 } }, 0).ready);
  t.true(readiness(status(), 0).ready);
  // Nobody answers for a long time: up anyway (it keeps trying), and the STATUS says why it is alone.
  t.deepEqual(readiness(alone, CONTACT_WAIT_MS), {
    ready: true,
    status: 'running, but neither the registry nor any peer has answered yet (connect ECONNREFUSED 10.0.0.1:8443); see resilnet status',
  });
});

test('the running status line counts tunnels, alive links, peers, registry and problems', (t) => {
  t.is(runningStatus(status()), 'running: 3 tunnels (1 link alive), 2 live and 1 dead peers, registry ok');
  const s = status({ tunnels: { outgoing: 1, incoming: 0 }, registry: { lastError: 'timeout' } });
  s.health = [{ code: 'RN_X', title: 'x', severity: 'error', text: 'x', sinceMs: 1 }];
  t.is(runningStatus(s), 'running: 1 tunnel (1 link alive), 2 live and 1 dead peers, registry unreachable; 1 problem (resilnet status)');
});

function setup(watchdogMs: number | undefined, current: () => StatusResponse) {
  const clock = new FakeClock();
  const sent: NotifyMessage[] = [];
  const notifier = new Notifier('/run/systemd/notify', {
    run: async (_file, args) => {
      sent.push(Object.fromEntries(args.slice(2).map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)])));
      return { exitCode: 0, stdout: '', stderr: '', timedOut: false };
    },
  });
  const warnings: unknown[] = [];
  const reporter = new SystemdReporter({ clock, log: { warn: (o: unknown) => void warnings.push(o) } as never, notifier, status: current, watchdogMs });
  return { clock, sent, reporter, notifier, warnings };
}

test('STATUS while starting, READY=1 once ready (and only once), then the running STATUS kept current', async (t) => {
  let s: StatusResponse | undefined;
  const { clock, sent, reporter, notifier } = setup(undefined, () => {
    if (!s) throw new Error('the daemon is still starting');
    return s;
  });
  reporter.begin('starting: control socket');
  reporter.started();
  await notifier.flush();
  t.deepEqual(sent, [{ STATUS: 'starting: control socket' }]);
  s = status({ babeld: { answering: false } });
  await clock.advance(1_000);
  await notifier.flush();
  t.deepEqual(sent.at(-1), { STATUS: 'waiting for babeld to take its configuration' });
  s = status();
  await clock.advance(1_000);
  await notifier.flush();
  t.deepEqual(sent.at(-1), { READY: '1', STATUS: 'running: 3 tunnels (1 link alive), 2 live and 1 dead peers, registry ok' });
  t.is(reporter.readySinceMs, clock.nowMs());
  const count = sent.length;
  await clock.advance(60_000);
  await notifier.flush();
  t.is(sent.length, count, 'nothing changed: nothing sent');
  s = status({ peers: { dead: 2 } });
  await clock.advance(15_000);
  await notifier.flush();
  t.deepEqual(sent.slice(count), [{ STATUS: 'running: 3 tunnels (1 link alive), 2 live and 2 dead peers, registry ok' }]);
  t.is(sent.filter((m) => m.READY).length, 1);
});

test('WATCHDOG=1 from a timer several times per watchdog period; none after STOPPING=1', async (t) => {
  const { clock, sent, reporter, notifier } = setup(120_000, () => status());
  reporter.begin('starting');
  await clock.advance(120_000);
  await notifier.flush();
  // Sends merge while one is on its way; here each went out alone.
  t.is(sent.filter((m) => m.WATCHDOG === '1').length, PINGS_PER_WATCHDOG_PERIOD);
  reporter.stopping();
  await notifier.flush();
  t.deepEqual(sent.at(-1), { STOPPING: '1', STATUS: 'stopping: babeld, tunnels, routes' });
  const count = sent.length;
  await clock.advance(600_000);
  await flushMicrotasks();
  await notifier.flush();
  t.is(sent.length, count);
  t.is(clock.nextDueMs(), undefined, 'no timer left');
});

test('without a watchdog no pings; without NOTIFY_SOCKET nothing at all', async (t) => {
  const { clock, sent, reporter, notifier } = setup(undefined, () => status());
  reporter.begin('starting');
  await clock.advance(600_000);
  await notifier.flush();
  t.deepEqual(sent, [{ STATUS: 'starting' }]);
  const clock2 = new FakeClock();
  const quiet = new SystemdReporter({ clock: clock2, log: { warn: () => {} } as never, notifier: new Notifier(undefined), status: () => status(), watchdogMs: 1_000 });
  quiet.begin('starting');
  quiet.started();
  t.is(clock2.nextDueMs(), undefined);
});
