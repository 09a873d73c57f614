import test from 'ava';
import { adoptNeighbour, peersToShare } from '../../../daemon/lan/adopt.js';
import { PeerDb } from '../../../daemon/peers/peer-db.js';

const T = 1_700_000_000_000;
const A = 'fd5e:1:0:2::/64';
const ME = 'fd5e:1:0:1::/64';

test('a new LAN neighbour becomes a candidate peer with its LAN endpoints first', (t) => {
  const db = new PeerDb(':memory:');
  db.upsertPeer({ prefix: A, addresses: ['203.0.113.9:1194'], source: 'registry' }, T);
  const r = adoptNeighbour({ prefix: A, serial: '2', endpoints: ['192.168.7.2:1194'], peers: [] }, { self: ME, peerDb: db, nowMs: T + 1 });
  t.deepEqual(r, { created: false, changed: true, learnedPeers: [] });
  t.like(db.getPeer(A), { addresses: ['192.168.7.2:1194', '203.0.113.9:1194'], certSerial: '2' });
  t.true(db.candidates(T + 2).some((p) => p.prefix === A));
  const again = adoptNeighbour({ prefix: A, serial: '2', endpoints: ['192.168.7.2:1194'], peers: [] }, { self: ME, peerDb: db, nowMs: T + 3 });
  t.false(again.changed, 'the same announcement again changes nothing');
  db.close();
});

test('passed-on peers are stored only when new, and never ourselves', (t) => {
  const db = new PeerDb(':memory:');
  db.upsertPeer({ prefix: 'fd5e:1:0:5::/64', addresses: ['10.1.1.5:1194'], source: 'registry' }, T);
  const r = adoptNeighbour(
    {
      prefix: A,
      serial: '2',
      endpoints: ['192.168.7.2:1194', '[fe80::1]:1194'],
      peers: [
        { prefix: ME, addresses: ['10.1.1.1:1194'] },
        { prefix: 'fd5e:1:0:5::/64', addresses: ['10.9.9.9:1194'] },
        { prefix: 'fd5e:1:0:6::/64', addresses: ['10.1.1.6:1194'] },
        { prefix: 'fd5e:1:0:7::/64', addresses: ['127.0.0.1:1194'] },
      ],
    },
    { self: ME, peerDb: db, nowMs: T },
  );
  t.deepEqual(r.learnedPeers, ['fd5e:1:0:6::/64']);
  t.like(db.getPeer(A), { addresses: ['192.168.7.2:1194'], source: 'lan' }, 'link-local endpoint dropped');
  t.deepEqual(db.getPeer('fd5e:1:0:5::/64')?.addresses, ['10.1.1.5:1194'], 'a known peer keeps its addresses');
  t.is(db.getPeer(ME), undefined);
  t.is(db.getPeer('fd5e:1:0:7::/64'), undefined, 'no usable address, not stored');
  db.close();
});

test('the peers we pass on: live ones with usable addresses, most recently working first', (t) => {
  const db = new PeerDb(':memory:');
  db.upsertPeer({ prefix: 'fd5e:1:0:5::/64', addresses: ['10.1.1.5:1194'], source: 'registry' }, T);
  db.upsertPeer({ prefix: 'fd5e:1:0:6::/64', addresses: ['10.1.1.6:1194'], source: 'registry' }, T);
  db.upsertPeer({ prefix: 'fd5e:1:0:7::/64', addresses: ['10.1.1.7:1194'], source: 'registry' }, T);
  db.recordSuccess('fd5e:1:0:6::/64', T + 5);
  db.markDead('fd5e:1:0:7::/64', 'revoked', T);
  const shared = peersToShare(db.listPeers(), 4, new Set([ME]));
  t.deepEqual(shared.map((p) => p.prefix), ['fd5e:1:0:6::/64', 'fd5e:1:0:5::/64']);
  db.close();
});
