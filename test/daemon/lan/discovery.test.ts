import test from 'ava';
import type { NetworkInterfaceInfo } from 'node:os';
import { LanDiscovery, type LanNeighbourSeen } from '../../../daemon/lan/discovery.js';
import type { LanDatagramSource, LanSocket } from '../../../daemon/lan/socket.js';
import { FakeClock, flushMicrotasks } from '../../fakes/fake-clock.js';
import { announcementBy, makeNetwork, NOW_MS, type LanTestNetwork, type LanTestNode } from './fixture.js';

/** One LAN segment: a datagram sent on it reaches every other joined socket (the kernel drops our own loopback). */
class FakeSegment {
  readonly members = new Set<FakeLanSocket>();
  deliver(from: FakeLanSocket | undefined, data: Buffer, source: LanDatagramSource): void {
    for (const m of this.members) if (m !== from) setImmediate(() => m.listener?.(data, source));
  }
}

class FakeLanSocket implements LanSocket {
  listener: ((data: Buffer, from: LanDatagramSource) => void) | undefined;
  joined: string[] = [];
  sendFails = 0;
  constructor(private readonly segment: FakeSegment, private readonly linkLocal: string, private readonly interfaces: string[]) {}
  async bind(): Promise<void> {}
  join(ifName: string): void {
    if (!this.interfaces.includes(ifName)) throw Object.assign(new Error('no such device'), { code: 'ENODEV' });
    this.joined.push(ifName);
    this.segment.members.add(this);
  }
  async send(ifName: string, data: Buffer): Promise<void> {
    if (this.sendFails > 0) {
      this.sendFails--;
      throw Object.assign(new Error('tentative'), { code: 'EADDRNOTAVAIL' });
    }
    this.segment.deliver(this, data, { address: `${this.linkLocal}%${ifName}`, ifName });
  }
  onMessage(listener: (data: Buffer, from: LanDatagramSource) => void): void {
    this.listener = listener;
  }
  async close(): Promise<void> {
    this.segment.members.delete(this);
  }
}

const iface = (address: string, family: 'IPv4' | 'IPv6'): NetworkInterfaceInfo =>
  ({ address, family, netmask: '', mac: '', internal: false, cidr: null, ...(family === 'IPv6' ? { scopeid: 0 } : {}) }) as NetworkInterfaceInfo;

interface Host {
  lan: LanDiscovery;
  socket: FakeLanSocket;
  seen: LanNeighbourSeen[];
}

function host(clock: FakeClock, segment: FakeSegment, net: LanTestNetwork, node: LanTestNode, ip: string, interfaces = ['eth1']): Host {
  const socket = new FakeLanSocket(segment, `fe80::${ip.split('.').at(-1)}`, ['eth1']);
  const seen: LanNeighbourSeen[] = [];
  const lan = new LanDiscovery(
    { interfaces, intervalMs: 30_000, port: 1193 },
    {
      clock,
      log: { debug: () => undefined, info: () => undefined, warn: () => undefined },
      self: { prefix: node.prefix, certDer: node.certDer, sign: node.sign, caFingerprint: net.caFingerprint },
      verifyCert: net.verifyCert,
      readInterfaces: () => ({ eth1: [iface(ip, 'IPv4'), iface('fe80::1', 'IPv6'), iface('fd00:7::' + ip.split('.').at(-1), 'IPv6')] }),
      peerPort: () => 1194,
      registryUrl: () => 'https://10.1.0.2:8443',
      sharedPeers: () => [],
      onNeighbour: (n) => void seen.push(n),
      socketFactory: () => socket,
      rand: () => 0.5,
    },
  );
  return { lan, socket, seen };
}

const setup = (async () => {
  const net = await makeNetwork('fd5e:1::/48', { nowMs: () => NOW_MS });
  const other = await makeNetwork('fd77:2::/48');
  return { net, other, a: await net.node('fd5e:1:0:2::/64', '2'), b: await net.node('fd5e:1:0:3::/64', '3'), stranger: await other.node('fd77:2:0:2::/64', '2') };
})();

test('two nodes on one segment find each other within a few seconds, with their LAN endpoints', async (t) => {
  const { net, a, b } = await setup;
  const clock = new FakeClock(NOW_MS);
  const segment = new FakeSegment();
  const ha = host(clock, segment, net, a, '192.168.7.2');
  const hb = host(clock, segment, net, b, '192.168.7.3');
  await ha.lan.start();
  await hb.lan.start();
  for (let i = 0; i < 40 && (ha.seen.length === 0 || hb.seen.length === 0); i++) {
    await clock.advance(100);
    await new Promise((r) => setImmediate(r));
  }
  t.true(clock.nowMs() - NOW_MS <= 4_000, `met after ${clock.nowMs() - NOW_MS} ms`);
  t.is(hb.seen[0]?.sender.prefix, a.prefix);
  t.deepEqual(hb.seen[0]?.announcement.endpoints, ['192.168.7.2:1194', '[fd00:7::2]:1194'], 'IPv4 first, no link-local');
  t.is(ha.seen[0]?.sender.prefix, b.prefix);
  t.is(ha.seen[0]?.ifName, 'eth1');
  const s = hb.lan.status();
  t.like(s, { accepted: 1, ignored: { malformed: 0, foreign: 0, badSignature: 0, replayed: 0 } });
  t.deepEqual(s.neighbours.map((n) => [n.prefix, n.interface]), [[a.prefix, 'eth1']]);
  t.deepEqual(s.interfaces[0], { name: 'eth1', joined: true, error: null, endpoints: ['192.168.7.3:1194', '[fd00:7::3]:1194'], lastSentMs: s.interfaces[0]!.lastSentMs });
  await ha.lan.stop();
  await hb.lan.stop();
});

test('forged, foreign, replayed and malformed datagrams are counted and never reach the node', async (t) => {
  const { net, other, a, b, stranger } = await setup;
  const clock = new FakeClock(NOW_MS);
  const segment = new FakeSegment();
  const hb = host(clock, segment, net, b, '192.168.7.3');
  await hb.lan.start();
  const from = { address: 'fe80::66%eth1', ifName: 'eth1' };
  const genuine = announcementBy(net, a);
  const forged = Buffer.from(announcementBy(net, a, { endpoints: ['192.168.7.66:1194'] }));
  forged[forged.length - 1] = forged[forged.length - 1]! ^ 0xff;
  for (const d of [Buffer.from('hello'), Buffer.alloc(2000), forged, announcementBy(other, stranger), genuine, genuine]) segment.deliver(undefined, d, from);
  await flushMicrotasks();
  await new Promise((r) => setImmediate(r));
  const s = hb.lan.status();
  t.like(s, { received: 6, accepted: 1, ignored: { malformed: 2, badSignature: 1, foreign: 1, replayed: 1, stale: 0, badCert: 0, revoked: 0 } });
  t.deepEqual(hb.seen.map((n) => n.sender.prefix), [a.prefix]);
  await hb.lan.stop();
});

test('a missing interface and a failed send are reported and retried, not fatal', async (t) => {
  const { net, a } = await setup;
  const clock = new FakeClock(NOW_MS);
  const segment = new FakeSegment();
  const raised: string[] = [];
  const h = host(clock, segment, net, a, '192.168.7.2', ['eth1', 'eth9']);
  (h.lan as unknown as { deps: { health: unknown } }).deps.health = { raise: (i: { code: string }) => void raised.push(i.code), clear: () => undefined };
  h.socket.sendFails = 1;
  await h.lan.start();
  await clock.advance(1_500);
  let s = h.lan.status();
  t.like(s, { sent: 0, sendErrors: 1 });
  t.regex(s.interfaces[0]?.error ?? '', /send failed: EADDRNOTAVAIL/);
  t.regex(s.interfaces[1]?.error ?? '', /cannot join the LAN group on eth9 \(ENODEV\)/);
  t.deepEqual(raised, ['RN_LAN_INTERFACE']);
  await clock.advance(2_500);
  s = h.lan.status();
  t.like(s, { sent: 1 });
  t.is(s.interfaces[0]?.error, null);
  await h.lan.stop();
  t.is(clock.pendingTimers(), 0, 'stop leaves no timer');
});
