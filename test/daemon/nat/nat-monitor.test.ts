// The NAT monitor on a fake clock with scripted STUN sockets: when it probes,
// that the class follows the registry and UPnP evidence between probes, that a
// change is announced (heartbeat now), and that the heartbeat carries the class.
import test from 'ava';
import { NatMonitor } from '../../../daemon/nat/nat-monitor.js';
import type { StunProbeResult, StunServer, StunSocket } from '../../../daemon/nat/stun-client.js';
import type { NatEvidenceInput } from '../../../daemon/nat/classify.js';
import { heartbeatBody } from '../../../daemon/node/heartbeat.js';
import { heartbeatSchema } from '../../../wire/registry-api.js';
import { FakeClock } from '../../fakes/fake-clock.js';

const quiet = { info: () => undefined, warn: () => undefined, debug: () => undefined };

/** A socket whose answers map every server to `external()` (one endpoint: eim) or to a port per server (apdm). */
function fakeSocket(opened: { count: number }, answer: (s: StunServer) => StunProbeResult): () => Promise<StunSocket> {
  return async () => {
    opened.count++;
    return { localPort: 40000, probe: async (s) => answer(s), close: () => undefined };
  };
}

const ok = (s: StunServer, port: number): StunProbeResult => ({ server: s, ok: true, rttMs: 1, mapped: { family: 'IPv4', address: '198.51.100.1', port }, source: 'xor-mapped-address' });
const servers = [{ host: '192.0.2.1', port: 3478 }, { host: '192.0.2.2', port: 3478 }];

test('probes after the first delay and every interval; the class is eim or apdm from the answers', async (t) => {
  const clock = new FakeClock();
  const opened = { count: 0 };
  let perServer = false;
  const evidence: Omit<NatEvidenceInput, 'stun'> = { localAddresses: ['10.0.17.2'], seenAddress: '198.51.100.1', upnp: null };
  const m = new NatMonitor({ clock, log: quiet, servers, intervalMs: 600_000, evidence: () => evidence, open: fakeSocket(opened, (s) => ok(s, perServer ? 50000 + Number(s.host.split('.')[3]) : 50000)) });
  t.is(m.natClass(), 'unknown', 'before any probe: behind a NAT of unknown kind');
  m.start(5_000);
  await clock.advance(5_000);
  t.is(opened.count, 1);
  t.is(m.natClass(), 'eim');
  perServer = true;
  await clock.advance(599_000);
  t.is(opened.count, 1, 'not before the interval');
  await clock.advance(1_000);
  t.is(opened.count, 2);
  t.is(m.natClass(), 'apdm');
  m.stop();
  await clock.advance(600_000);
  t.is(opened.count, 2, 'no probe after stop');
});

test('between probes the class follows UPnP; a change calls onChange once', async (t) => {
  const clock = new FakeClock();
  const changes: string[] = [];
  const evidence: Omit<NatEvidenceInput, 'stun'> = { localAddresses: ['10.0.17.2'], seenAddress: null, upnp: null };
  const m = new NatMonitor({ clock, log: quiet, servers, intervalMs: 600_000, evidence: () => evidence, open: fakeSocket({ count: 0 }, (s) => ok(s, 50000)), onChange: (c) => changes.push(c) });
  await m.checkNow();
  t.is(m.natClass(), 'eim');
  evidence.upnp = { externalIp: '198.51.100.1', ports: [1194] };
  t.is(m.natClass(), 'upnp');
  t.is(m.natClass(), 'upnp');
  t.deepEqual(changes, ['upnp']);
});

test('the heartbeat carries the class, and the registry\'s schema accepts it', async (t) => {
  const clock = new FakeClock();
  const m = new NatMonitor({ clock, log: quiet, servers: [], intervalMs: 600_000, evidence: () => ({ localAddresses: ['192.0.2.10'], seenAddress: '192.0.2.10', upnp: null }), open: fakeSocket({ count: 0 }, (s) => ok(s, 1)) });
  const body = heartbeatBody({ port: 1194, configured: [], addresses: undefined, tunnels: undefined, peerDb: undefined, configVersion: 3, nat: m });
  t.is(body.natClass, 'public');
  t.true(heartbeatSchema.safeParse(body).success);
  t.false('natClass' in heartbeatBody({ port: 1194, configured: [], addresses: undefined, tunnels: undefined, peerDb: undefined, configVersion: 3 }));
});
