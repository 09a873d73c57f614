import test from 'ava';
import {
  canonicalAddress,
  canonicalPrefix,
  formatIpv6Address,
  nodeAddress,
  parseIpv6Address,
  parsePrefix,
  prefixContains,
  subPrefix,
} from '../../config/ipv6.js';

const canonical: Array<{ input: string; want: string }> = [
  { input: 'fd5e:0001:0002:0007:0000:0000:0000:0000/64', want: 'fd5e:1:2:7::/64' },
  { input: 'FD5E:1::/48', want: 'fd5e:1::/48' },
  { input: '::/0', want: '::/0' },
  { input: 'fd00:0:0:1:0:0:0:0/64', want: 'fd00:0:0:1::/64' },
  // RFC 5952: the longest zero run is compressed, the first of equal runs wins.
  { input: 'fd00:0:0:1:0:0:0:1/128', want: 'fd00:0:0:1::1/128' },
  { input: 'fd00:1:0:0:1:0:0:0/128', want: 'fd00:1:0:0:1::/128' },
  { input: 'fd00:0:0:1:0:0:1:1/128', want: 'fd00::1:0:0:1:1/128' },
  // A single zero group is never compressed.
  { input: 'fd00:1:2:3:4:5:0:7/128', want: 'fd00:1:2:3:4:5:0:7/128' },
];

for (const { input, want } of canonical) {
  test(`canonicalPrefix ${input}`, (t) => {
    t.is(canonicalPrefix(input), want);
  });
}

const invalid: Array<{ input: string; why: RegExp }> = [
  { input: 'fd00::', why: /missing "\/length"/ },
  { input: 'fd00::/129', why: /0-128/ },
  { input: 'fd00::/x', why: /number/ },
  { input: 'fd00::1/64', why: /host bits are set \(did you mean fd00::\/64\?\)/ },
  { input: 'not-an-address/64', why: /not an IPv6 address/ },
  { input: '10.0.0.0/8', why: /not an IPv6 address/ },
  { input: 'fe80::1%eth0/64', why: /not an IPv6 address/ },
];

for (const { input, why } of invalid) {
  test(`parsePrefix refuses ${input}`, (t) => {
    const err = t.throws(() => parsePrefix(input));
    t.is((err as { code?: string }).code, 'RN_PREFIX_INVALID');
    t.regex(err!.message, why);
  });
}

test('embedded IPv4 tail parses to the same value', (t) => {
  t.is(parseIpv6Address('::ffff:10.1.2.3'), parseIpv6Address('::ffff:a01:203'));
});

test('format(parse(x)) round-trips random addresses', (t) => {
  let seed = 7n;
  for (let i = 0; i < 500; i++) {
    seed = (seed * 6364136223846793005n + 1442695040888963407n) & ((1n << 128n) - 1n);
    // Zero some groups so that compression paths are exercised.
    const value = seed & ~(0xffffn << BigInt(16 * (i % 8))) & ~(0xffffn << BigInt(16 * ((i * 3) % 8)));
    t.is(parseIpv6Address(formatIpv6Address(value)), value);
  }
});

test('node address, containment and sub-prefixes', (t) => {
  const net = parsePrefix('fd5e:1::/48');
  const node = subPrefix(net, 64, 7n);
  t.is(canonicalPrefix(`${formatIpv6Address(node.address)}/64`), 'fd5e:1:0:7::/64');
  t.is(nodeAddress(node), 'fd5e:1:0:7::1');
  t.true(prefixContains(net, node));
  t.false(prefixContains(node, net));
  t.false(prefixContains(net, parsePrefix('fd5e:2::/64')));
  t.throws(() => subPrefix(net, 64, 1n << 16n), { instanceOf: RangeError });
  t.throws(() => subPrefix(net, 40, 0n), { instanceOf: RangeError });
});

test('canonicalPrefix answers the same from its memory, and refuses a bad prefix every time', (t) => {
  t.is(canonicalPrefix('fd00:0:0:1:0::/64'), 'fd00:0:0:1::/64');
  t.is(canonicalPrefix('fd00:0:0:1:0::/64'), 'fd00:0:0:1::/64');
  t.throws(() => canonicalPrefix('fd00::zz/64'));
  t.throws(() => canonicalPrefix('fd00::zz/64'));
});

test('canonicalAddress: one spelling per address, remembered; a malformed one throws every time', (t) => {
  t.is(canonicalAddress('FD00:0:0::1'), 'fd00::1');
  t.is(canonicalAddress('FD00:0:0::1'), 'fd00::1');
  t.is(canonicalAddress('fe80:0000::a'), 'fe80::a');
  t.throws(() => canonicalAddress('fd00::zz'));
  t.throws(() => canonicalAddress('fd00::zz'));
});
