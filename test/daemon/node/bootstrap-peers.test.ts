// Bootstrap peers into the peer DB: ourselves left out, unusable addresses skipped and counted;
// their NAT classes into the record hole punching reads.
import test from 'ava';
import { Puncher } from '../../../daemon/nat/punch-session.js';
import { addBootstrapPeers, bootstrapPeersArrived, peerNatClasses } from '../../../daemon/node/bootstrap-peers.js';
import type { RunningParts } from '../../../daemon/node/parts.js';
import { FakeClock } from '../../fakes/fake-clock.js';

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

test('an answer before hole punching is wired seeds the classes the puncher reads later; ours is not taken', (t) => {
  const SELF = 'fd5e:1:0:ff::/64';
  const seen = new Date(1_800_000_000_000).toISOString();
  const p: RunningParts = {
    identity: { cert: { prefix: SELF } } as never,
    peerDb: { upsertPeer: () => ({ created: false, revived: false, evicted: [] }) } as never,
  };
  bootstrapPeersArrived(
    [
      { prefix: 'fd5e:1:0:1::/64', addresses: ['198.51.100.1:1194'], last_seen: seen, nat_class: 'public' },
      { prefix: 'fd5e:1:0:2::/64', addresses: ['198.51.100.2:1194'], last_seen: seen, nat_class: 'upnp' },
      { prefix: 'fd5e:1:0:3::/64', addresses: ['198.51.100.3:1194'], last_seen: seen },
      { prefix: SELF, addresses: ['198.51.100.9:1194'], last_seen: seen, nat_class: 'eim' },
    ],
    p,
    { nowMs: 0, events: { add: () => undefined as never }, log: { warn: () => undefined } },
  );
  t.is(p.peerClasses, peerNatClasses(p), 'made once, then the same record');
  const puncher = new Puncher({
    clock: new FakeClock(), log: { info: () => undefined, debug: () => undefined }, selfClass: () => 'eim',
    overlayAddress: () => { throw new Error('not used'); }, request: () => { throw new Error('not used'); },
    mappedEndpoint: () => { throw new Error('not used'); }, sendFrom: () => { throw new Error('not used'); },
    classes: peerNatClasses(p),
  });
  t.deepEqual(['1', '2', '3', 'ff'].map((i) => puncher.peerClass(`fd5e:1:0:${i}::/64`)), ['public', 'upnp', undefined, undefined]);
  t.is(puncher.pairing('fd5e:1:0:1::/64'), 'direct');
});
