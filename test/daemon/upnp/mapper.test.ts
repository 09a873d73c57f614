// UpnpMappings on a fake clock with the fake gateway: what is mapped when, what
// is reported, which health items show, and that stop leaves nothing behind.
import test from 'ava';
import { HealthRegistry } from '../../../daemon/health/health.js';
import { describePorts, nodePortSpecs, UpnpMappings, type ExternalAddress, type UpnpTimings } from '../../../daemon/upnp/mapper.js';
import { isUpnpError } from '../../../daemon/upnp/port-mapper.js';
import { FakeClock } from '../../fakes/fake-clock.js';
import { FakePortMapper } from './fake-port-mapper.js';
import { recordLog } from './record-log.js';

const LEASE_SEC = 600;
const PORTS = nodePortSpecs(1194, 2); // UDP 1194, 1195, 1196
const TIMINGS: UpnpTimings = { callTimeoutMs: 10_000, unmapTimeoutMs: 3_000, rediscoverMinMs: 30_000, rediscoverMaxMs: 600_000 };

function setup() {
  const clock = new FakeClock();
  const gateway = new FakePortMapper();
  const { log, records } = recordLog();
  const health = new HealthRegistry({ clock, log });
  const addresses: (ExternalAddress | undefined)[] = [];
  const mappings = new UpnpMappings({ mapper: gateway, clock, health, log, onExternalAddress: (a) => addresses.push(a), timings: TIMINGS });
  const mappedPorts = (): string[] => [...gateway.table.keys()].sort();
  return { clock, gateway, health, records, addresses, mappings, mappedPorts };
}

const ALL = ['UDP:1194', 'UDP:1195', 'UDP:1196'];

test('nodePortSpecs: the peer port and the tunnel range above it, UDP', (t) => {
  t.deepEqual(nodePortSpecs(1194, 2), [
    { port: 1194, protocol: 'UDP' },
    { port: 1195, protocol: 'UDP' },
    { port: 1196, protocol: 'UDP' },
  ]);
  t.is(describePorts([...nodePortSpecs(1194, 10), { port: 80, protocol: 'TCP' }, { port: 1300, protocol: 'UDP' }]), 'UDP 1194-1204, UDP 1300, TCP 80');
});

test('start maps every port, reports the external address once, raises nothing', async (t) => {
  const { clock, gateway, health, addresses, mappings, mappedPorts } = setup();
  await mappings.start({ ports: PORTS, leaseSec: LEASE_SEC });
  t.deepEqual(mappedPorts(), ALL);
  t.deepEqual(addresses, [
    {
      ip: '198.51.100.7',
      mappings: PORTS.map((p) => ({ protocol: 'UDP', internalPort: p.port, externalPort: p.port })),
    },
  ]);
  t.deepEqual(health.list(), []);
  t.like(mappings.status(), { externalIp: '198.51.100.7', gateway: { internalIp: gateway.internalIp } });
  t.deepEqual(mappings.status().mappings.map((m) => m.state), ['mapped', 'mapped', 'mapped']);
  t.is(clock.nextDueMs(), clock.nowMs() + (LEASE_SEC * 1000) / 2, 'next wake-up is the half-lease renewal');
  await mappings.stop();
});

test('mappings are renewed at half the lease, and only then', async (t) => {
  const { clock, gateway, addresses, mappings } = setup();
  await mappings.start({ ports: PORTS, leaseSec: LEASE_SEC });
  await clock.advance(299_000);
  t.is(gateway.count('map'), 3);
  await clock.advance(1_000);
  t.is(gateway.count('map'), 6);
  await clock.advance(300_000);
  t.is(gateway.count('map'), 9);
  t.is(addresses.length, 1, 'an unchanged address is not reported again');
  await mappings.stop();
});

test('a lease the gateway shortens is renewed at half of what it granted', async (t) => {
  const { clock, gateway, mappings } = setup();
  gateway.maxLeaseSec = 120;
  await mappings.start({ ports: PORTS, leaseSec: LEASE_SEC });
  t.is(clock.nextDueMs(), clock.nowMs() + 60_000);
  await clock.advance(60_000);
  t.is(gateway.count('map'), 6);
  await mappings.stop();
});

test('a new external address is reported at the next renewal', async (t) => {
  const { clock, gateway, addresses, mappings } = setup();
  await mappings.start({ ports: PORTS, leaseSec: LEASE_SEC });
  gateway.externalAddress = '203.0.113.9';
  await clock.advance(300_000);
  t.deepEqual(addresses.map((a) => a?.ip), ['198.51.100.7', '203.0.113.9']);
  await mappings.stop();
});

test('no gateway: a health item names the ports, discovery retries with backoff, all clears when one appears', async (t) => {
  const { clock, gateway, health, addresses, mappings, mappedPorts } = setup();
  gateway.gatewayPresent = false;
  await mappings.start({ ports: PORTS, leaseSec: LEASE_SEC });
  t.deepEqual(health.list().map((i) => [i.code, i.severity]), [['RN_UPNP_NO_GATEWAY', 'warning']]);
  t.regex(health.list()[0]!.text, /UDP 1194-1196/);
  t.regex(health.list()[0]!.text, /upnp\.enabled = false/);
  t.deepEqual(addresses, []);
  t.is(mappings.status().gateway, undefined);

  t.is(gateway.count('discover'), 1);
  await clock.advance(30_000);
  t.is(gateway.count('discover'), 2);
  await clock.advance(59_999);
  t.is(gateway.count('discover'), 2, 'second retry waits 60 s');
  gateway.gatewayPresent = true;
  await clock.advance(1);
  t.is(gateway.count('discover'), 3);
  t.deepEqual(mappedPorts(), ALL);
  t.deepEqual(health.list(), []);
  t.is(addresses.at(-1)?.ip, '198.51.100.7');
  await mappings.stop();
});

test('a gateway without a WAN service raises RN_UPNP_GATEWAY_UNSUPPORTED instead', async (t) => {
  const { gateway, health, mappings } = setup();
  gateway.failNext('discover', 'RN_UPNP_GATEWAY_UNSUPPORTED');
  await mappings.start({ ports: PORTS, leaseSec: LEASE_SEC });
  t.deepEqual(health.list().map((i) => i.code), ['RN_UPNP_GATEWAY_UNSUPPORTED']);
  await mappings.stop();
  t.deepEqual(health.list(), []);
});

test('a refused mapping raises RN_UPNP_MAP_FAILED, is retried after 5 s and clears on success', async (t) => {
  const { clock, gateway, health, addresses, mappings, mappedPorts } = setup();
  gateway.failNext('map', 'RN_UPNP_MAP_FAILED', { upnpErrorCode: 606 });
  await mappings.start({ ports: PORTS, leaseSec: LEASE_SEC });
  t.deepEqual(mappedPorts(), ['UDP:1195', 'UDP:1196']);
  const [item] = health.list();
  t.is(item?.code, 'RN_UPNP_MAP_FAILED');
  t.regex(item?.text ?? '', /UDP 1194 \(RN_UPNP_MAP_FAILED\)/);
  t.deepEqual(addresses.at(-1)?.mappings.map((m) => m.externalPort), [1195, 1196], 'only what is mapped is announced');
  t.like(mappings.status().mappings[0], { state: 'pending', failures: 1, lastErrorCode: 'RN_UPNP_MAP_FAILED' });

  await clock.advance(5_000);
  t.deepEqual(mappedPorts(), ALL);
  t.deepEqual(health.list(), []);
  t.is(addresses.at(-1)?.mappings.length, 3);
  await mappings.stop();
});

test('a gateway that stops answering is searched for again at once; a rebooted gateway gets every mapping back', async (t) => {
  const { clock, gateway, mappings, mappedPorts } = setup();
  await mappings.start({ ports: PORTS, leaseSec: LEASE_SEC });
  gateway.reboot();
  gateway.failNext('map', 'RN_UPNP_GATEWAY_UNREACHABLE');
  await clock.advance(300_000);
  t.is(gateway.count('discover'), 2);
  t.deepEqual(mappedPorts(), ALL);
  t.deepEqual(mappings.status().mappings.map((m) => m.state), ['mapped', 'mapped', 'mapped']);
  await mappings.stop();
});

test('a gateway gone for good: the address is withdrawn when the leases run out, not before', async (t) => {
  const { clock, gateway, health, addresses, mappings } = setup();
  await mappings.start({ ports: PORTS, leaseSec: LEASE_SEC });
  gateway.gatewayPresent = false;
  await clock.advance(300_000); // renewal fails: gateway lost
  t.is(addresses.length, 1, 'still announced while the leases run');
  t.deepEqual(health.list().map((i) => i.code), ['RN_UPNP_NO_GATEWAY']);
  await clock.advance(300_000); // the leases end
  t.is(addresses.at(-1), undefined);
  t.deepEqual(mappings.status().mappings.map((m) => m.state), ['expired', 'expired', 'expired']);
  await mappings.stop();
});

test('stop removes every mapping, clears the health items, withdraws the address and leaves no timer', async (t) => {
  const { clock, gateway, health, addresses, mappings, mappedPorts } = setup();
  gateway.failNext('map', 'RN_UPNP_MAP_FAILED', { upnpErrorCode: 606 });
  await mappings.start({ ports: PORTS, leaseSec: LEASE_SEC });
  t.is(health.list().length, 1);
  await mappings.stop();
  t.deepEqual(mappedPorts(), []);
  t.deepEqual(gateway.calls.filter((c) => c.op === 'unmap').map((c) => c.port).sort(), [1195, 1196]);
  t.deepEqual(health.list(), []);
  t.is(addresses.at(-1), undefined);
  t.is(clock.pendingTimers(), 0);
  await mappings.stop(); // twice is harmless
});

test('stop does not hang on a gateway that never answers: each unmap is bounded', async (t) => {
  const { clock, gateway, records, mappings } = setup();
  await mappings.start({ ports: PORTS, leaseSec: LEASE_SEC });
  gateway.hang.add('unmap');
  const stopped = mappings.stop();
  await clock.advance(3_000);
  await stopped;
  t.is(records.filter((r) => r.msg.startsWith('upnp port unmap failed')).length, 3);
  t.is(clock.pendingTimers(), 0);
});

test('a gateway call that hangs is aborted after callTimeoutMs and counted as a failure', async (t) => {
  const { clock, gateway, mappings } = setup();
  gateway.hang.add('map');
  const started = mappings.start({ ports: [PORTS[0]!], leaseSec: LEASE_SEC });
  await clock.advance(10_000);
  await started;
  t.like(mappings.status().mappings[0], { state: 'pending', failures: 1 });
  gateway.hang.delete('map');
  await clock.advance(5_000);
  t.like(mappings.status().mappings[0], { state: 'mapped', failures: 0 });
  await mappings.stop();
});

test('reconfigure unmaps removed ports and maps new ones at once', async (t) => {
  const { gateway, mappings, mappedPorts } = setup();
  await mappings.start({ ports: PORTS, leaseSec: LEASE_SEC });
  await mappings.reconfigure({ ports: [...nodePortSpecs(1194, 1), { port: 1200, protocol: 'UDP' }], leaseSec: LEASE_SEC });
  t.deepEqual(mappedPorts(), ['UDP:1194', 'UDP:1195', 'UDP:1200']);
  t.is(gateway.count('map'), 4, 'kept ports are not mapped again early');
  await mappings.stop();
  t.deepEqual(mappedPorts(), []);
});

test('bad options are refused before anything is mapped', async (t) => {
  const { gateway, mappings } = setup();
  const err = await t.throwsAsync(mappings.start({ ports: [{ port: 70_000, protocol: 'UDP' }], leaseSec: LEASE_SEC }));
  t.true(isUpnpError(err, 'RN_UPNP_BAD_REQUEST'));
  const err2 = await t.throwsAsync(mappings.start({ ports: PORTS, leaseSec: 0 }));
  t.true(isUpnpError(err2, 'RN_UPNP_BAD_REQUEST'));
  t.deepEqual(gateway.calls, []);
});

test('a port another host holds (718) is mapped on another external port at once, announced, and removed from there at stop', async (t) => {
  const { gateway, health, addresses, mappings, mappedPorts } = setup();
  gateway.takenByOther(1194);
  await mappings.start({ ports: PORTS, leaseSec: LEASE_SEC });
  const maps = gateway.calls.filter((c) => c.op === 'map' && c.port === 1194);
  t.is(maps.length, 2, 'one conflict, one retry on another port');
  const other = maps[1]?.externalPort;
  t.true(other !== undefined && other !== 1194 && other >= 1024 && other <= 65535, String(other));
  t.deepEqual(health.list(), []);
  t.deepEqual(addresses.at(-1)?.mappings.find((m) => m.internalPort === 1194), { protocol: 'UDP', internalPort: 1194, externalPort: other! });
  t.true(mappedPorts().includes(`UDP:${other}`));
  await mappings.stop();
  t.deepEqual(mappedPorts(), ['UDP:1194'], 'only the other host\'s mapping is left');
});

test('the renewal keeps the external port it got; it is not the internal port again', async (t) => {
  const { clock, gateway, mappings } = setup();
  gateway.takenByOther(1194);
  await mappings.start({ ports: PORTS, leaseSec: LEASE_SEC });
  const first = gateway.calls.filter((c) => c.op === 'map' && c.port === 1194).length;
  await clock.advance((LEASE_SEC / 2) * 1000 + 1_000);
  const renewals = gateway.calls.filter((c) => c.op === 'map' && c.port === 1194).slice(first);
  t.true(renewals.length >= 1);
  t.true(renewals.every((c) => c.externalPort !== undefined && c.externalPort !== 1194), JSON.stringify(renewals));
  await mappings.stop();
});

test('mappings a crashed run left (our description, our address) are removed at start; other hosts\' are kept', async (t) => {
  const { gateway, mappings, mappedPorts } = setup();
  gateway.takenByOther(2000);
  gateway.table.set('UDP:40000', { protocol: 'UDP', internalPort: 1194, externalPort: 40000, internalIp: gateway.internalIp, leaseSec: 600 });
  await mappings.start({ ports: PORTS, leaseSec: LEASE_SEC });
  t.is(gateway.count('list'), 1);
  t.deepEqual(mappedPorts(), ['UDP:1194', 'UDP:1195', 'UDP:1196', 'UDP:2000']);
  await mappings.stop();
});
