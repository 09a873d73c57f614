// NodeUpnp with reach checks, on a fake clock, a scripted gateway report and a
// scripted peer protocol: the mapped address reaches the announcer only once the
// asked peer's probe came back through the mapping; a mapping whose probes never
// arrive is withheld, raises RN_UPNP_UNREACHABLE and shows in the NAT evidence.
import test from 'ava';
import pino from 'pino';
import { EventLog } from '../../../daemon/events.js';
import { HealthRegistry } from '../../../daemon/health/health.js';
import { NodeUpnp, UPNP_UNREACHABLE_ITEM, type Mappings } from '../../../daemon/node/upnp.js';
import type { ExternalAddress } from '../../../daemon/upnp/mapper.js';
import type { ReachPeer } from '../../../daemon/upnp/reach-node.js';
import type { PeerProtocol } from '../../../daemon/peerproto/protocol.js';
import type { PeerMessage } from '../../../wire/messages.js';
import { FakeClock } from '../../fakes/fake-clock.js';

const PEER = 'fd5e:1:2:a::/64';
const MAPPED: ExternalAddress = {
  ip: '198.51.100.7',
  mappings: [
    { protocol: 'UDP', internalPort: 1194, externalPort: 1194 },
    { protocol: 'UDP', internalPort: 1195, externalPort: 1195 },
  ],
};

function setup(opts: { delivers: boolean; probeFrom?: string }) {
  const clock = new FakeClock();
  const log = pino({ level: 'silent' });
  const health = new HealthRegistry({ clock, log });
  const events = new EventLog({ clock });
  const announced: (ExternalAddress | undefined)[] = [];
  const listeners = new Map<string, (ev: unknown) => void>();
  const requests: PeerMessage[] = [];
  // Only what NodeUpnp uses of the peer protocol: `on` and `request`.
  const peerproto = {
    on: (event: string, fn: (ev: unknown) => void) => {
      listeners.set(event, fn);
      return () => listeners.delete(event);
    },
    request: async (to: ReachPeer['to'], msg: PeerMessage) => {
      requests.push(msg);
      if (msg.kind === 'reach-request' && opts.delivers) {
        // The probe comes in on the peer-protocol socket from the peer's underlay address.
        clock.setTimeout(() => listeners.get('reach-probe')?.({ from: { prefix: PEER, serial: '1', host: opts.probeFrom ?? '203.0.113.9', port: 40000 }, msg: { kind: 'reach-probe', nonce: msg.nonce } }), 200);
      }
      await clock.sleep(100);
      return { from: { prefix: to.prefix!, serial: '1', host: to.host, port: to.port }, msg: { kind: 'reach-reply', outcome: 'sent' } as PeerMessage };
    },
  };
  let report: (a: ExternalAddress | undefined) => void = () => {};
  const mappings: Mappings = {
    start: async () => report(MAPPED),
    reconfigure: async () => ({ applied: true }),
    stop: async () => report(undefined),
  };
  const upnp = new NodeUpnp({
    clock, log, health, signal: new AbortController().signal,
    onExternalAddress: (a) => announced.push(a),
    createMappings: async (onMapped) => {
      report = onMapped;
      return mappings;
    },
    reach: { peerproto: peerproto as unknown as Pick<PeerProtocol, 'on' | 'request'>, events, peerPort: () => 1194, candidates: () => [{ prefix: PEER, key: PEER, to: { host: 'fd5e:1:2:a::1', port: 1194, prefix: PEER } }] },
  });
  return { clock, health, events, announced, requests, upnp };
}

const slice = { enabled: true, ports: [{ port: 1194, protocol: 'UDP' as const }, { port: 1195, protocol: 'UDP' as const }], leaseSec: 3600 };

test('the mapping is announced only after the peer\'s probe to it arrived; the event names the peer', async (t) => {
  const { clock, announced, requests, upnp, events, health } = setup({ delivers: true });
  await upnp.reconfigure(slice, { signal: new AbortController().signal });
  t.deepEqual(announced, [], 'nothing announced while the probe is on its way');
  t.regex(upnp.reachEvidence() ?? '', /maps 198\.51\.100\.7:1194; not announced until a probe from fd5e:1:2:a::\/64 arrives/);
  const req = requests[0];
  t.true(req?.kind === 'reach-request' && req.endpoint === '198.51.100.7:1194', 'the peer-protocol port\'s endpoint is probed');
  await clock.advance(1_000);
  t.deepEqual(announced, [MAPPED]);
  t.is(upnp.reachEvidence(), 'a probe from fd5e:1:2:a::/64 reached the UPnP mapping 198.51.100.7:1194: verified and announced');
  t.false(health.has(UPNP_UNREACHABLE_ITEM));
  t.true(events.list().some((e) => /^UPnP mapping 198\.51\.100\.7:1194 verified by fd5e:1:2:a::\/64 \(its probe arrived in 200 ms\): announced$/.test(e.text)), JSON.stringify(events.list()));
  // Stopping withdraws it.
  await upnp.stop();
  t.deepEqual(announced, [MAPPED, undefined]);
});

test('probes that never arrive: nothing announced, a warning that says what to do, NAT evidence says why', async (t) => {
  const { clock, announced, upnp, health } = setup({ delivers: false });
  await upnp.reconfigure(slice, { signal: new AbortController().signal });
  await clock.advance(60_000);
  t.deepEqual(announced, []);
  const item = health.list().find((i) => i.code === UPNP_UNREACHABLE_ITEM);
  t.truthy(item);
  t.regex(item!.text, /the router maps the port but drops what arrives\. Forward it by hand or check the router's firewall/);
  t.regex(upnp.reachEvidence() ?? '', /maps 198\.51\.100\.7:1194 but probes sent there never arrived \(fd5e:1:2:a::\/64 sent a probe, nothing arrived\): not announced/);
  t.is(upnp.reachStatus().state, 'unreachable');
  await upnp.stop();
  t.false(health.has(UPNP_UNREACHABLE_ITEM), 'cleared at stop');
});

test('a probe that came over the overlay (IPv6) did not cross the mapping and verifies nothing', async (t) => {
  const { clock, announced, upnp } = setup({ delivers: true, probeFrom: 'fd5e:1:2:a::1' });
  await upnp.reconfigure(slice, { signal: new AbortController().signal });
  await clock.advance(60_000);
  t.deepEqual(announced, []);
  t.is(upnp.reachStatus().state, 'unreachable');
  await upnp.stop();
});

test('a verified mapping whose re-check fails is withdrawn: the announcer hears none, RN_UPNP_UNREACHABLE says it was verified before', async (t) => {
  const opts = { delivers: true };
  const { clock, announced, upnp, health, events, requests } = setup(opts);
  await upnp.reconfigure(slice, { signal: new AbortController().signal });
  await clock.advance(1_000);
  t.deepEqual(announced, [MAPPED]);
  // A passed re-check (30 min ±20 %) keeps it announced and adds no event.
  await clock.advance(37 * 60_000);
  t.is(requests.length, 2);
  t.deepEqual(announced, [MAPPED]);
  t.is(events.list().filter((e) => /UPnP mapping/.test(e.text)).length, 1);
  // The router starts dropping what arrives on the mapping: the next re-check withdraws it.
  opts.delivers = false;
  await clock.advance(37 * 60_000);
  t.deepEqual(announced, [MAPPED, undefined]);
  const item = health.list().find((i) => i.code === UPNP_UNREACHABLE_ITEM);
  t.regex(item?.text ?? '', /probes sent there never arrived \(fd5e:1:2:a::\/64 sent a probe, nothing arrived; it was verified at [0-9T:.-]+Z, a re-check failed\)/);
  t.true(events.list().some((e) => /^UPnP mapping 198\.51\.100\.7:1194 no longer reachable, withdrawn: /.test(e.text)), JSON.stringify(events.list()));
  await upnp.stop();
});
