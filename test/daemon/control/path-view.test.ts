// "Why not direct?": the path to a peer and the reason, from what the node knows.
import test from 'ava';
import { peerPath, type PathFacts } from '../../../daemon/control/path-view.js';
import type { PeerRecord } from '../../../daemon/peers/peer-db.js';
import { LIVE_STATE } from '../../../daemon/peers/retry-policy.js';

const NOW = 1_700_000_000_000;
const P = 'fd5e:1:0:7::/64';
const N = 'fd5e:1:0:2::/64';

function peer(extra: Partial<PeerRecord> = {}): PeerRecord {
  return {
    prefix: P, addresses: ['10.0.0.7:1194'], source: 'registry', firstSeenMs: NOW - 60_000, lastSeenMs: NOW - 5_000,
    lastSuccessMs: null, rttMs: null, certSerial: null, ...LIVE_STATE, ...extra,
  };
}
const facts = (extra: Partial<PathFacts> = {}): PathFacts => ({ tunnel: undefined, via: N, outgoing: 4, clientCount: 4, natClass: 'public', ...extra });

test('a tunnel that is up is the direct path, either direction', (t) => {
  t.deepEqual(peerPath(peer(), facts({ tunnel: { direction: 'incoming', state: 'up' }, via: P }), NOW), { kind: 'direct', via: null, why: 'incoming tunnel up' });
});

test('a tunnel not up yet: the traffic goes through the neighbour babel chose, and the tunnel state says why', (t) => {
  t.deepEqual(peerPath(peer(), facts({ tunnel: { direction: 'outgoing', state: 'connecting' } }), NOW), { kind: 'via', via: N, why: 'outgoing tunnel connecting' });
});

test('no tunnel: the reason comes from the peer DB, the retry, the slots and our NAT class', (t) => {
  t.deepEqual(peerPath(peer(), facts(), NOW), { kind: 'via', via: N, why: 'not chosen: all 4 outgoing tunnels in use' });
  t.is(peerPath(peer(), facts({ natClass: 'apdm' }), NOW).why, 'not chosen: all 4 outgoing tunnels in use (this node is behind a NAT, apdm: it can only open tunnels, not receive them)');
  t.is(peerPath(peer({ failures: 1, lastFailure: 'no answer to tunnel-request at 10.0.0.7:1194', retryAtMs: NOW + 30_000 }), facts(), NOW).why, 'last attempt: no answer to tunnel-request at 10.0.0.7:1194; next try in 30 s');
  t.is(peerPath(peer({ lastFailure: 'tunnel refused: full', retryAtMs: NOW + 45_500 }), facts(), NOW).why, 'last attempt: tunnel refused: full; next try in 46 s');
  t.is(peerPath(peer({ dead: true, deadCause: 'failures', deadReason: '3 failed attempts (no answer)', retryAtMs: NOW + 600_000 }), facts({ via: undefined }), NOW).why, 'dead: 3 failed attempts (no answer); retried later');
  t.is(peerPath(peer({ dead: true, deadCause: 'revoked', deadReason: 'certificate 1a revoked' }), facts({ via: undefined }), NOW).why, 'revoked: certificate 1a revoked');
  t.is(peerPath(peer({ addresses: [] }), facts(), NOW).why, 'no underlay address known');
  t.is(peerPath(peer(), facts({ outgoing: 2 }), NOW).why, 'not chosen yet');
});

test('babel has no route: the path is none', (t) => {
  t.like(peerPath(peer(), facts({ via: undefined }), NOW), { kind: 'none', via: null });
});
