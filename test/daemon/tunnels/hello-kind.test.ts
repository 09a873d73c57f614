// Which link hello goes out when one is due: beats only on a link alive on our side,
// to a peer that takes them, on time, with a signed hello every 10 s.
import test from 'ava';
import { answersSignedHello, linkHelloKind, SIGNED_HELLO_EVERY_MS, type LinkHelloFacts } from '../../../daemon/tunnels/hello-kind.js';

const live: LinkHelloFacts = { beats: true, peerTakesBeats: true, phase: 'alive', reportLate: false, sinceSignedMs: 1_000, otherTraffic: false };

test('a live link on time, to a peer that takes beats: a beat', (t) => {
  t.is(linkHelloKind(live), 'beat');
});

test('a live link that carried other packets of ours since the last check: nothing', (t) => {
  t.is(linkHelloKind({ ...live, otherTraffic: true }), 'none');
});

test('each reason for a signed hello', (t) => {
  t.is(linkHelloKind({ ...live, beats: false }), 'hello', 'this host cannot beat');
  t.is(linkHelloKind({ ...live, peerTakesBeats: false }), 'hello', 'an older peer');
  t.is(linkHelloKind({ ...live, phase: 'waiting' }), 'hello', 'the peer is not heard yet');
  t.is(linkHelloKind({ ...live, phase: 'lost' }), 'hello', 'only a signed frame restores the link on the peer');
  t.is(linkHelloKind({ ...live, reportLate: true }), 'hello', 'the peer must hear our lateness');
  t.is(linkHelloKind({ ...live, sinceSignedMs: SIGNED_HELLO_EVERY_MS }), 'hello', 'the periodic signed hello');
  t.is(linkHelloKind({ ...live, sinceSignedMs: Infinity, otherTraffic: true }), 'hello', 'other traffic does not replace the signed one');
});

test('a signed hello from the peer is answered unless ours went out within two intervals', (t) => {
  t.true(answersSignedHello({ beats: true, peerTakesBeats: true, sinceSignedMs: 500 }, 250));
  t.false(answersSignedHello({ beats: true, peerTakesBeats: true, sinceSignedMs: 499 }, 250));
  t.false(answersSignedHello({ beats: false, peerTakesBeats: true, sinceSignedMs: 5_000 }, 250), 'hellos only: every interval anyway');
  t.false(answersSignedHello({ beats: true, peerTakesBeats: false, sinceSignedMs: 5_000 }, 250));
});
