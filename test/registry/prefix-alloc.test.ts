import test from 'ava';
import { ResilnetError } from '../../config/errors.js';
import { parsePrefix, prefixContains } from '../../config/ipv6.js';
import { allocatePrefix, checkLengths, lowestFreeIndex, prefixAtIndex, prefixCapacity } from '../../registry/prefix-alloc.js';
import { errorCode } from '../fixtures/error-code.js';

test('lowestFreeIndex finds the first gap', (t) => {
  const table: { used: number[]; capacity: number; want: number | undefined }[] = [
    { used: [], capacity: 4, want: 0 },
    { used: [0, 1, 2], capacity: 4, want: 3 },
    { used: [0, 2, 3], capacity: 4, want: 1 },
    { used: [1, 2], capacity: 4, want: 0 },
    { used: [0, 1, 2, 3], capacity: 4, want: undefined },
    { used: [0, 5, 9], capacity: 10, want: 1 },
  ];
  for (const row of table) t.is(lowestFreeIndex(row.used, row.capacity), row.want, JSON.stringify(row));
});

test('prefixes are distinct, inside the network, and exhaustion is a clear error', (t) => {
  const network = parsePrefix('fd00:1::/60');
  t.is(prefixCapacity(network, 64), 16);
  const used: number[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < 16; i++) {
    const a = allocatePrefix(network, 64, used);
    t.false(seen.has(a.prefix), a.prefix);
    seen.add(a.prefix);
    t.is(a.prefix, prefixAtIndex(network, 64, a.index));
    t.true(prefixContains(network, parsePrefix(a.prefix)), a.prefix);
    used.push(a.index);
    used.sort((x, y) => x - y);
  }
  t.is(seen.size, 16);
  t.true(seen.has('fd00:1::/64'));
  t.true(seen.has('fd00:1:0:f::/64'));
  const err = t.throws(() => allocatePrefix(network, 64, used)) as ResilnetError;
  t.is(err.code, 'RN_REGISTRY_NETWORK_FULL');
  t.regex(err.message, /full/);
});

test('a purged prefix is reused first', (t) => {
  const network = parsePrefix('fd00:2::/48');
  const used = [0, 1, 2, 3, 4];
  const purged = used.filter((i) => i !== 2);
  const again = allocatePrefix(network, 64, purged);
  t.is(again.index, 2);
  t.is(again.prefix, 'fd00:2:0:2::/64');
});

test('lengths that leave no room are refused with the reason', (t) => {
  t.is(errorCode(() => checkLengths(parsePrefix('fd00::/64'), 64)), 'RN_REGISTRY_PREFIX_LENGTH');
  t.is(errorCode(() => checkLengths(parsePrefix('fd00::/64'), 48)), 'RN_REGISTRY_PREFIX_LENGTH');
  t.is(errorCode(() => checkLengths(parsePrefix('fd00::/64'), 128)), 'RN_REGISTRY_PREFIX_LENGTH');
  t.is(errorCode(() => checkLengths(parsePrefix('fd00::/48'), 64)), undefined);
  t.is(prefixCapacity(parsePrefix('fd00::/8'), 64), Number.MAX_SAFE_INTEGER);
});
