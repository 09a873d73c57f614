// Which link hello goes out when one is due: beats only on a link alive on our side,
// to a peer that takes them, on time, with a signed hello every 10 s.
import test from 'ava';
import { answersSignedHello, linkHelloKind, nextHelloAfterMs, SIGNED_HELLO_EVERY_MS, type LinkHelloFacts } from '../../../daemon/tunnels/hello-kind.js';

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

test('a probe from the peer is answered unless we answered within an eighth of an interval, beats or not', (t) => {
  t.true(answersSignedHello({ beats: true, peerTakesBeats: true, sinceSignedMs: 32, probe: true }, 250));
  t.false(answersSignedHello({ beats: true, peerTakesBeats: true, sinceSignedMs: 31, probe: true }, 250));
  t.true(answersSignedHello({ beats: false, peerTakesBeats: false, sinceSignedMs: 100, probe: true }, 250));
});

test('a peer that probes before its verdict gets the next beat after two intervals while both ends run on time; else one cadence', (t) => {
  t.is(nextHelloAfterMs('beat', 250, 250, true), 500);
  t.is(nextHelloAfterMs('none', 250, 250, true), 250, 'other traffic of ours instead of the beat');
  t.is(nextHelloAfterMs('hello', 250, 250, true), 250);
  t.is(nextHelloAfterMs('beat', 250, 250, false), 250, 'an older peer');
  t.is(nextHelloAfterMs('beat', 400, 250, true), 400, 'an end runs late: the stretched cadence, every beat');
});

test('a peer at idle pace 4 gets the next beat after eight intervals, after four while an end runs late; not after a signed hello or other traffic', (t) => {
  t.is(nextHelloAfterMs('beat', 250, 250, true, 4), 2_000);
  t.is(nextHelloAfterMs('hello', 250, 250, true, 4), 250);
  t.is(nextHelloAfterMs('none', 250, 250, true, 4), 250);
  t.is(nextHelloAfterMs('beat', 400, 250, true, 4), 1_000, 'an end runs late: every paced interval, four beats a deadline');
  t.is(nextHelloAfterMs('beat', 2_250, 250, true, 4), 2_250, 'the stretched cadence when longer');
  t.is(nextHelloAfterMs('beat', 250, 250, false, 4), 250, 'a peer that does not probe');
});
