import test from 'ava';
import { pino } from 'pino';
import { AddressAnnouncer } from '../../../daemon/addresses/announcer.js';
import type { InterfaceSnapshot } from '../../../daemon/addresses/addresses.js';
import { linkLocalFor } from '../../../daemon/identity.js';
import type { Incoming, PeerAddress } from '../../../daemon/peerproto/protocol.js';
import { PeerDb } from '../../../daemon/peers/peer-db.js';
import type { AddressesMessage } from '../../../wire/messages.js';
import { FakeClock } from '../../fakes/fake-clock.js';

const SELF = 'fd5e:1:0:1::/64';
const B = 'fd5e:1:0:2::/64';
const NETWORK = 'fd5e:1::/48';

function setup() {
  const clock = new FakeClock(1_000_000);
  const peers = new PeerDb(':memory:');
  const sent: Array<{ to: PeerAddress; msg: AddressesMessage }> = [];
  let listener: ((ev: Incoming<AddressesMessage>) => unknown) | undefined;
  let changes = 0;
  let reads = 0;
  const ifaces: InterfaceSnapshot = { eth0: [{ address: '10.9.0.2', family: 'IPv4', internal: false, cidr: '10.9.0.2/24' }] };
  const adjacent: Array<{ peer: string; ifName: string }> = [];
  const announcer = new AddressAnnouncer(
    { ownPrefix: SELF, networkPrefix: NETWORK, checkIntervalMs: 5_000, reannounceIntervalMs: 300_000 },
    {
      clock,
      log: pino({ level: 'silent' }),
      peerproto: {
        async send(to, msg) {
          sent.push({ to, msg });
        },
        on(_e, l) {
          listener = l;
          return () => (listener = undefined);
        },
      },
      peers,
      readInterfaces: () => {
        reads++;
        return { ...ifaces };
      },
      settings: () => ({ port: 1194, configured: [] }),
      adjacent: () => adjacent,
      peerPort: () => 1194,
      onChange: () => changes++,
    },
  );
  announcer.start();
  const receive = (msg: AddressesMessage, host = `${linkLocalFor(B)}%rnb`, port = 1194) =>
    listener?.({ from: { prefix: B, serial: '2b', host, port }, msg });
  return { clock, peers, sent, ifaces, adjacent, announcer, receive, changes: () => changes, reads: () => reads };
}

test('a new neighbour gets our addresses over the tunnel\'s link-local address, asking for theirs', async (t) => {
  const { clock, sent, adjacent, announcer } = setup();
  adjacent.push({ peer: B, ifName: 'rnb' });
  await clock.advance(5_000);
  t.deepEqual(sent, [
    {
      to: { host: `${linkLocalFor(B)}%rnb`, port: 1194, prefix: B },
      msg: { kind: 'addresses', public: [], internal: ['10.9.0.2:1194'], upnp: [], wantReply: true },
    },
  ]);
  // Nothing new: no repeat until the re-announce interval.
  await clock.advance(60_000);
  t.is(sent.length, 1);
  await clock.advance(240_000);
  t.is(sent.length, 2);
  t.is(sent[1]!.msg.wantReply, undefined);
  announcer.stop();
});

test('a UPnP mapping and the registry\'s view are announced at once and reported as a change', async (t) => {
  const { clock, sent, adjacent, announcer, changes } = setup();
  adjacent.push({ peer: B, ifName: 'rnb' });
  await clock.advance(5_000);
  announcer.setUpnp({ ip: '10.50.0.1', mappings: [{ internalPort: 1194, externalPort: 1194 }, { internalPort: 1195, externalPort: 1195 }] });
  t.is(changes(), 1);
  t.deepEqual(sent.at(-1)!.msg, { kind: 'addresses', public: [], internal: ['10.9.0.2:1194'], upnp: ['10.50.0.1:1194'] });
  announcer.setSeenAddress('10.50.0.1');
  t.is(changes(), 1, 'same address as the UPnP one: nothing new');
  announcer.setSeenAddress('198.51.100.4');
  t.is(changes(), 2);
  t.deepEqual(sent.at(-1)!.msg.public, ['198.51.100.4:1194']);
  t.deepEqual(announcer.status(), {
    addresses: [
      { address: '10.50.0.1:1194', kind: 'upnp' },
      { address: '198.51.100.4:1194', kind: 'seen' },
      { address: '10.9.0.2:1194', kind: 'internal' },
    ],
    upnp: { externalIp: '10.50.0.1', ports: [1194, 1195] },
    seenAddress: '198.51.100.4',
  });
  t.deepEqual(announcer.heartbeatAddresses(), [
    { address: '10.50.0.1:1194', kind: 'upnp' },
    { address: '10.9.0.2:1194', kind: 'internal' },
  ]);
  announcer.stop();
});

test('interfaces are re-read every 30 s, not at every 5 s check: an address change is noticed then (or on check())', async (t) => {
  const { clock, ifaces, announcer, changes, reads } = setup();
  t.is(reads(), 1, 'read at start');
  ifaces.eth0 = [{ address: '198.51.100.9', family: 'IPv4', internal: false, cidr: '198.51.100.9/24' }];
  await clock.advance(25_000);
  t.is(reads(), 1, 'five checks, no read');
  t.is(changes(), 0);
  await clock.advance(5_000);
  t.is(reads(), 2);
  t.is(changes(), 1);
  ifaces.eth0 = [{ address: '198.51.100.10', family: 'IPv4', internal: false, cidr: '198.51.100.10/24' }];
  announcer.check();
  t.is(reads(), 3, 'check() reads at once');
  t.is(changes(), 2);
  ifaces.eth0 = [{ address: '198.51.100.9', family: 'IPv4', internal: false, cidr: '198.51.100.9/24' }];
  await clock.advance(30_000);
  t.is(changes(), 3);
  t.deepEqual(announcer.current(), [{ address: '198.51.100.9:1194', kind: 'public' }]);
  announcer.stop();
});

test('interfaces() is the last reading, shared without a netlink dump of its own', async (t) => {
  const { clock, ifaces, announcer, reads } = setup();
  t.deepEqual(announcer.interfaces(), ifaces);
  ifaces.eth1 = [{ address: '192.0.2.7', family: 'IPv4', internal: false, cidr: '192.0.2.7/24' }];
  for (let i = 0; i < 10; i++) t.is(announcer.interfaces().eth1, undefined, 'until the next reading, the last one');
  t.is(reads(), 1, 'asking reads nothing');
  await clock.advance(30_000);
  t.is(reads(), 2);
  t.deepEqual(announcer.interfaces().eth1, ifaces.eth1, 'the next periodic reading is handed out');
  announcer.stop();
});

test('a received announcement becomes the peer\'s address list (source peer); wantReply is answered', (t) => {
  const { peers, sent, receive, announcer } = setup();
  receive({ kind: 'addresses', public: ['198.51.100.2:1194'], internal: ['10.9.0.3:1194', '[fe80::1]:1194'], upnp: ['203.0.113.5:1194'], wantReply: true });
  const p = peers.getPeer(B)!;
  t.deepEqual(p.addresses, ['203.0.113.5:1194', '198.51.100.2:1194', '10.9.0.3:1194']);
  t.is(p.source, 'peer');
  t.is(p.certSerial, '2b');
  t.deepEqual(sent, [{ to: { host: `${linkLocalFor(B)}%rnb`, port: 1194, prefix: B }, msg: { kind: 'addresses', public: [], internal: ['10.9.0.2:1194'], upnp: [] } }]);
  // Over the underlay, the address it came from is worth trying too.
  receive({ kind: 'addresses', public: [], internal: ['10.9.0.3:1194'], upnp: [] }, '10.50.0.1', 40000);
  t.deepEqual(peers.getPeer(B)!.addresses, ['10.50.0.1:40000', '10.9.0.3:1194']);
  announcer.stop();
});

test('dial order puts a peer address on our own LAN first', (t) => {
  const { announcer } = setup();
  t.deepEqual(announcer.dialOrder(['203.0.113.5:1194', '10.9.0.3:1194']), ['10.9.0.3:1194', '203.0.113.5:1194']);
  announcer.stop();
});
