// The one rule for "an address a peer may use", over every family it refuses.
import test from 'ava';
import { isPeerAddress, peerAddressProblem } from '../../config/peer-address.js';

const refused: [string, RegExp][] = [
  ['fe80::1%eth0', /zone ID/],
  ['2001:db8::1%2', /zone ID/],
  ['::1', /loopback/],
  ['127.0.0.1', /loopback/],
  ['127.255.0.9', /loopback/],
  ['::ffff:127.0.0.1', /loopback/],
  ['fe80::1', /link-local/],
  ['febf:ffff::1', /link-local/],
  ['169.254.10.1', /link-local/],
  ['::ffff:169.254.0.1', /link-local/],
  ['::', /unspecified/],
  ['0.0.0.0', /unspecified/],
  ['ff02::1', /multicast/],
  ['224.0.0.251', /multicast/],
  ['255.255.255.255', /reserved or broadcast/],
  ['example.org', /not an IP address/],
  ['', /not an IP address/],
];

for (const [ip, why] of refused) {
  test(`refused: ${ip || '(empty)'}`, (t) => {
    t.regex(peerAddressProblem(ip) ?? '', why);
    t.false(isPeerAddress(ip));
  });
}

test('usable: global, private and ULA addresses of both families', (t) => {
  for (const ip of ['198.51.100.7', '10.1.0.1', '192.168.1.2', '100.64.0.1', '2001:db8::1', 'fd00::1', 'fec0::1', '::ffff:198.51.100.7', '169.253.0.1', '223.255.255.1']) {
    t.is(peerAddressProblem(ip), undefined, ip);
    t.true(isPeerAddress(ip), ip);
  }
});
