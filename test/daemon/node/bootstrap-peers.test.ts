// Bootstrap peers into the peer DB: ourselves left out, unusable addresses skipped and counted.
import test from 'ava';
import { addBootstrapPeers } from '../../../daemon/node/bootstrap-peers.js';

test('addresses no peer could use are left out and counted; the peer is kept with the rest', (t) => {
  const stored: Array<{ prefix: string; addresses: string[] }> = [];
  const events: string[] = [];
  const skipped = { count: 0 };
  const created = addBootstrapPeers(
    [
      { prefix: 'fd5e:1:0:1::/64', addresses: ['10.0.0.1:1194', '[fe80::1%eth0]:1194', '127.0.0.1:1194', '[2001:db8::1]:1194', 'not-an-address'], last_seen: null },
      { prefix: 'fd5e:1:0:2::/64', addresses: ['[ff02::1]:1194'], last_seen: null },
      { prefix: 'fd5e:1:0:ff::/64', addresses: ['10.0.0.9:1194'], last_seen: null },
    ] as never,
    {
      self: 'fd5e:1:0:ff::/64',
      peerDb: { upsertPeer: (r: { prefix: string; addresses: string[] }) => (stored.push(r), { created: true, revived: false, evicted: [] }) } as never,
      events: { add: (_kind: string, text: string) => void events.push(text) } as never,
      nowMs: 0,
      skipped,
    },
  );
  t.is(created, 2);
  t.deepEqual(stored.map((r) => [r.prefix, r.addresses]), [
    ['fd5e:1:0:1::/64', ['10.0.0.1:1194', '[2001:db8::1]:1194']],
    ['fd5e:1:0:2::/64', []],
  ]);
  t.is(skipped.count, 4);
  t.deepEqual(events, [
    'peer fd5e:1:0:1::/64 learned from the registry (10.0.0.1:1194, [2001:db8::1]:1194)',
    'peer fd5e:1:0:2::/64 learned from the registry (no usable address)',
  ]);
});
