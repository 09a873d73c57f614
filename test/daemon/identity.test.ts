import test from 'ava';
import { linkLocalFor, tunnelIfName } from '../../daemon/identity.js';

const prefixes = ['fd5e:1:2:7::/64', 'fd5e:1:2:8::/64', 'fd77:0:0:1::/64', 'fd00::/48'];

test('tunnelIfName is short, stable and canonical', (t) => {
  for (const p of prefixes) {
    const name = tunnelIfName(p);
    t.regex(name, /^rn[0-9a-f]{13}$/);
    t.true(name.length <= 15);
    t.is(tunnelIfName(p), name);
  }
  t.is(tunnelIfName('fd5e:0001:0002:0007:0000::/64'), tunnelIfName('fd5e:1:2:7::/64'));
  t.is(new Set(prefixes.map(tunnelIfName)).size, prefixes.length);
});

test('tunnelIfName refuses a malformed prefix', (t) => {
  t.throws(() => tunnelIfName('not a prefix'), { code: 'RN_PREFIX_INVALID' } as never);
});

test('linkLocalFor gives a distinct fe80::/64 address per prefix', (t) => {
  for (const p of prefixes) t.regex(linkLocalFor(p), /^fe80::[0-9a-f]{1,4}(:[0-9a-f]{1,4}){3}$/);
  t.is(new Set(prefixes.map(linkLocalFor)).size, prefixes.length);
  t.is(linkLocalFor('fd5e:1:2:7::/64'), linkLocalFor('fd5e:1:2:7:0::/64'));
});

