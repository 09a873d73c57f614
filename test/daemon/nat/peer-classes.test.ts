// Peers' NAT classes from two sources: the peer's own word (punch messages) and the
// registry's copy of its last heartbeat. The newer statement holds.
import test from 'ava';
import { PeerNatClasses } from '../../../daemon/nat/peer-classes.js';

const PEER = 'fd5e:1:0:3::/64';
const T = 1_800_000_000_000;

test('the registry seeds a class nobody told us yet; a later heartbeat replaces it', (t) => {
  const c = new PeerNatClasses();
  t.is(c.get(PEER), undefined);
  c.fromRegistry(PEER, 'public', T);
  t.is(c.get(PEER), 'public');
  c.fromRegistry(PEER, 'upnp', T + 60_000);
  t.is(c.get(PEER), 'upnp');
  c.fromRegistry(PEER, 'public', T + 30_000);
  t.is(c.get(PEER), 'upnp', 'an older heartbeat (a stale answer) does not undo a newer one');
});

test("the registry's copy does not override what the peer told us itself since", (t) => {
  const c = new PeerNatClasses();
  c.fromPeer(PEER, 'eim', T);
  c.fromRegistry(PEER, 'public', T - 1_000);
  t.is(c.get(PEER), 'eim');
  c.fromRegistry(PEER, 'unknown', T - 1_000);
  t.is(c.get(PEER), 'eim', "an older 'unknown' forgets nothing either");
  // The peer's heartbeat after its punch message: the peer's class changed (it got a UPnP mapping).
  c.fromRegistry(PEER, 'upnp', T + 1_000);
  t.is(c.get(PEER), 'upnp');
  // And what the peer says now wins over the registry again.
  c.fromPeer(PEER, 'eim', T + 2_000);
  t.is(c.get(PEER), 'eim');
});

test("'unknown' forgets; an absent class or an unreadable time changes nothing", (t) => {
  const c = new PeerNatClasses();
  c.fromRegistry(PEER, 'upnp', T);
  c.fromRegistry(PEER, undefined, T + 1_000);
  c.fromRegistry(PEER, 'apdm', Number.NaN);
  t.is(c.get(PEER), 'upnp');
  c.fromRegistry(PEER, 'unknown', T + 2_000);
  t.is(c.get(PEER), undefined);
  c.fromPeer(PEER, 'eim', T);
  c.fromPeer(PEER, 'unknown', T + 1);
  t.is(c.get(PEER), undefined);
  c.fromRegistry(PEER, 'eim', T);
  t.is(c.get(PEER), undefined, "a registry copy older than the peer's 'unknown' does not bring the old class back");
});
