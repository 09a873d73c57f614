// Crossed tunnel requests in the manager: the NAT classes hole punching knows
// (its own, the peer's from punch messages or the registry) decide which end
// becomes the server, so a node behind a NAT without UPnP stays the client.
import test from 'ava';
import type { NatClass } from '../../../daemon/nat/classify.js';
import { pairing } from '../../../daemon/nat/punch.js';
import { managerFixture, peerPrefix } from './manager-fixture.js';

const LOWER = peerPrefix(0); // below the fixture's own prefix fd00:1:0:1::/64
const HIGHER = peerPrefix(2);

function puncher(self: NatClass, peers: Record<string, NatClass>) {
  return {
    punched: [] as string[],
    learnClass: (peer: string, c: NatClass) => void (peers[peer] = c),
    pairing: (peer: string) => pairing(self, peers[peer]),
    behindNat: () => self === 'eim' || self === 'apdm',
    selfClass: () => self,
    peerClass: (peer: string) => peers[peer],
    async punch(peer: string) {
      this.punched.push(peer);
      return { ok: false as const, reason: 'hole punch timed out (20 s)' };
    },
  };
}

test('behind a NAT, a crossed request from a public peer is refused and our own request goes on; unknown class: the prefix decides', async (t) => {
  for (const known of [true, false]) {
    let release = (): void => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const s = managerFixture({ peers: [[LOWER, '10.0.0.10:1194']], requestGate: () => gate });
    s.manager.setPuncher(puncher('eim', known ? { [LOWER]: 'public' } : {}));
    const ours = s.manager.open(LOWER);
    await s.clock.advance(0);
    const answer = await s.tunnelRequest(LOWER);
    release();
    const opened = await ours;
    if (known) {
      t.deepEqual(answer, { kind: 'tunnel-refuse', reason: 'duplicate', natClass: 'eim' }, 'the refusal names our class');
      t.true(opened);
      t.is(s.manager.get(LOWER)?.direction, 'outgoing', 'we are the client end');
    } else {
      t.deepEqual(answer, { kind: 'tunnel-accept', port: 1195 }, 'the lower prefix keeps its request: we serve');
      t.false(opened);
      t.is(s.manager.get(LOWER)?.direction, 'incoming');
    }
  }
});

test('public, a crossed request from a NATed peer replaces our own tunnel that is not up yet; unknown class: ours stays', async (t) => {
  for (const known of [true, false]) {
    const s = managerFixture();
    s.manager.setPuncher(puncher('public', known ? { [HIGHER]: 'eim' } : {}));
    t.true(await s.manager.open(HIGHER));
    t.is(s.manager.get(HIGHER)?.state, 'connecting');
    const answer = await s.tunnelRequest(HIGHER);
    if (known) {
      t.deepEqual(answer, { kind: 'tunnel-accept', port: 1195 });
      t.true(s.stopped.includes(`openvpn to ${HIGHER}`), 'our client end gave way');
      t.is(s.manager.get(HIGHER)?.direction, 'incoming', 'we are the server end');
    } else {
      t.deepEqual(answer, { kind: 'tunnel-refuse', reason: 'duplicate', natClass: 'public' });
      t.is(s.manager.get(HIGHER)?.direction, 'outgoing');
    }
  }
});

test('public: a crossed request that states its NATed class (tunnel-request natClass) replaces our own tunnel not up yet', async (t) => {
  const classes: Record<string, NatClass> = {};
  const s = managerFixture();
  s.manager.setPuncher(puncher('public', classes));
  t.true(await s.manager.open(HIGHER));
  const answer = await s.tunnelRequest(HIGHER, undefined, 'eim');
  t.deepEqual(answer, { kind: 'tunnel-accept', port: 1195 });
  t.is(classes[HIGHER], 'eim', 'learned from the request');
  t.is(s.manager.get(HIGHER)?.direction, 'incoming', 'we serve the NATed peer');
});

test('behind an EIM NAT: our request names our class; a plain request from an EIM peer is refused with ours; its refusal makes us punch at once', async (t) => {
  const classes: Record<string, NatClass> = {};
  const s = managerFixture({ peers: [[HIGHER, '198.51.100.7:1194']], retryBaseMs: 1_000, planContext: () => ({ reachable: [HIGHER] }) });
  const p = puncher('eim', classes);
  s.manager.setPuncher(p);
  // The peer, behind an EIM NAT too, refuses and names its class.
  s.peerproto.answer = () => ({ kind: 'tunnel-refuse', reason: 'unsupported', natClass: 'eim' });
  t.false(await s.manager.open(HIGHER));
  t.deepEqual(s.requests.map((r) => r.msg), [{ kind: 'tunnel-request', role: 'client', proto: 'udp', natClass: 'eim' }]);
  t.deepEqual(p.punched, [HIGHER], 'punched right after the refusal');
  t.is(s.peers.getPeer(HIGHER)?.lastFailure, 'hole punch timed out (20 s)', 'only the punch counts as a failure');
  // As the server: a plain request from an EIM peer gets the same refusal.
  t.deepEqual(await s.tunnelRequest(LOWER, undefined, 'eim'), { kind: 'tunnel-refuse', reason: 'unsupported', natClass: 'eim' });
  t.is(s.manager.get(LOWER), undefined);
});
