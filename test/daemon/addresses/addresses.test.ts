import test from 'ava';
import {
  type IpScope,
  buildAddressEntries,
  inCidr,
  ipScope,
  isDialable,
  localUnderlayAddresses,
  mergeAddresses,
  orderAnnounced,
  orderForDial,
  toAnnouncement,
  toHeartbeatAddresses,
  type InterfaceSnapshot,
} from '../../../daemon/addresses/addresses.js';

const NETWORK = 'fd5e:1::/48';

test('ipScope tells loopback, link-local, private, global, multicast and garbage apart', (t) => {
  const cases: Array<[string, IpScope]> = [
    ['127.0.0.1', 'loopback'],
    ['::1', 'loopback'],
    ['169.254.3.4', 'link-local'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['10.1.2.3', 'private'],
    ['172.20.0.1', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'private'],
    ['fd5e:1::1', 'private'],
    ['198.51.100.7', 'global'],
    ['2001:db8::7', 'global'],
    ['::ffff:10.0.0.1', 'private'],
    ['224.0.0.251', 'multicast'],
    ['ff02::1', 'multicast'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['not an ip', 'invalid'],
  ];
  for (const [ip, scope] of cases) t.is(ipScope(ip), scope, ip);
});

const IFACES: InterfaceSnapshot = {
  lo: [
    { address: '127.0.0.1', family: 'IPv4', internal: true, cidr: '127.0.0.1/8' },
    { address: 'fd5e:1:0:7::1', family: 'IPv6', internal: true, cidr: 'fd5e:1:0:7::1/64' },
  ],
  eth0: [
    { address: '10.9.0.2', family: 'IPv4', internal: false, cidr: '10.9.0.2/24' },
    { address: '2001:db8::2', family: 'IPv6', internal: false, cidr: '2001:db8::2/64' },
    { address: 'fe80::2', family: 'IPv6', internal: false, cidr: 'fe80::2/64' },
  ],
  rn0123456789abc: [
    { address: 'fe80::aaaa', family: 'IPv6', internal: false, cidr: 'fe80::aaaa/64' },
    // An overlay address on a non-loopback interface still is no underlay address.
    { address: 'fd5e:1:0:7::2', family: 'IPv6', internal: false, cidr: 'fd5e:1:0:7::2/64' },
  ],
};

test('local underlay addresses: no loopback, link-local or overlay address', (t) => {
  t.deepEqual(localUnderlayAddresses(IFACES, NETWORK), [
    { ifName: 'eth0', ip: '10.9.0.2', cidr: '10.9.0.2/24', scope: 'private' },
    { ifName: 'eth0', ip: '2001:db8::2', cidr: '2001:db8::2/64', scope: 'global' },
  ]);
});

test('announced entries: UPnP, configured, global, seen, internal; each address once', (t) => {
  const entries = buildAddressEntries({
    interfaces: localUnderlayAddresses(IFACES, NETWORK),
    port: 1194,
    configured: ['203.0.113.9', '203.0.113.10:2000', 'junk'],
    upnp: { ip: '198.51.100.1', mappings: [{ internalPort: 1195, externalPort: 1195 }, { internalPort: 1194, externalPort: 1194 }] },
    seenIp: '198.51.100.1',
  });
  t.deepEqual(entries, [
    { address: '198.51.100.1:1194', kind: 'upnp' },
    { address: '203.0.113.9:1194', kind: 'configured' },
    { address: '203.0.113.10:2000', kind: 'configured' },
    { address: '[2001:db8::2]:1194', kind: 'public' },
    // The seen address equals the UPnP one: listed once.
    { address: '10.9.0.2:1194', kind: 'internal' },
  ]);
  t.deepEqual(toAnnouncement(entries, true), {
    kind: 'addresses',
    public: ['203.0.113.9:1194', '203.0.113.10:2000', '[2001:db8::2]:1194'],
    internal: ['10.9.0.2:1194'],
    upnp: ['198.51.100.1:1194'],
    wantReply: true,
  });
  t.deepEqual(toHeartbeatAddresses(entries).map((e) => e.kind), ['upnp', 'configured', 'configured', 'public', 'internal']);
});

test('the registry\'s view is announced as public but not sent back in the heartbeat', (t) => {
  const entries = buildAddressEntries({ interfaces: [], port: 1194, configured: [], seenIp: '198.51.100.33' });
  t.deepEqual(entries, [{ address: '198.51.100.33:1194', kind: 'seen' }]);
  t.deepEqual(toAnnouncement(entries).public, ['198.51.100.33:1194']);
  t.deepEqual(toHeartbeatAddresses(entries), []);
});

test('a received announcement is ordered UPnP, public, observed, internal; useless addresses dropped', (t) => {
  const ordered = orderAnnounced(
    { upnp: ['198.51.100.1:1194'], public: ['[2001:db8::2]:1194', '127.0.0.1:1194', '[fd5e:1:0:7::1]:1194'], internal: ['10.9.0.2:1194', '198.51.100.1:1194'] },
    NETWORK,
    '10.0.0.9:1194',
  );
  t.deepEqual(ordered, ['198.51.100.1:1194', '[2001:db8::2]:1194', '10.0.0.9:1194', '10.9.0.2:1194']);
  t.false(isDialable('[fe80::1]:1194'));
  t.false(isDialable('[fd5e:1:0:7::1]:1194', NETWORK));
  t.true(isDialable('[fd00:9::1]:1194', NETWORK));
});

test('mergeAddresses keeps order, drops repeats, caps the list', (t) => {
  t.deepEqual(mergeAddresses(['a', 'b'], ['b', 'c']), ['a', 'b', 'c']);
  t.deepEqual(mergeAddresses(['1', '2', '3'], ['4', '5'], 4), ['1', '2', '3', '4']);
});

test('dial order: same subnet first, then a family we have, then the rest; stable within', (t) => {
  const local = localUnderlayAddresses({ eth0: [{ address: '10.9.0.2', family: 'IPv4', internal: false, cidr: '10.9.0.2/24' }] }, NETWORK);
  t.deepEqual(orderForDial(['[2001:db8::5]:1194', '198.51.100.1:1194', '10.9.0.77:1194', '10.8.0.1:1194'], local), [
    '10.9.0.77:1194',
    '198.51.100.1:1194',
    '10.8.0.1:1194',
    '[2001:db8::5]:1194',
  ]);
});

test('inCidr for IPv4 and IPv6', (t) => {
  t.true(inCidr('10.9.0.200', '10.9.0.2/24'));
  t.false(inCidr('10.9.1.2', '10.9.0.2/24'));
  t.true(inCidr('2001:db8::ffff', '2001:db8::2/64'));
  t.false(inCidr('2001:db9::1', '2001:db8::2/64'));
  t.false(inCidr('10.9.0.1', '2001:db8::2/64'));
  t.false(inCidr('10.9.0.1', 'garbage'));
});
