// Two nodes behind one NAT router share its LAN: whatever their NAT classes say
// (punch, or no tunnel possible), a request to the peer's address on that LAN
// crosses no NAT, so the manager asks there first and punches only when it is
// not answered; the planner does not rule such a peer out.
import test from 'ava';
import type { NatClass } from '../../../daemon/nat/classify.js';
import { PeerProtoError } from '../../../daemon/peerproto/errors.js';
import { DEFAULT_TUNNEL_POLICY, planTunnels } from '../../../daemon/tunnels/plan.js';
import { managerFixture, peerPrefix, SELF } from './manager-fixture.js';

const B = peerPrefix(2);
/** Our LAN behind the router is 192.168.1.0/24; B's router's WAN address is 198.51.100.7. */
const onLan = (host: string): boolean => host.startsWith('192.168.1.');

function puncher(pairing: 'punch' | 'impossible') {
  const punched: string[] = [];
  return {
    punched,
    pairing: () => pairing,
    behindNat: () => true,
    selfClass: (): NatClass => (pairing === 'punch' ? 'eim' : 'apdm'),
    peerClass: (): NatClass => (pairing === 'punch' ? 'eim' : 'apdm'),
    punch: async (peer: string) => {
      punched.push(peer);
      return { ok: false as const, reason: 'hole punch timed out (20 s)' };
    },
  };
}

const setup = () =>
  // The overlay reaches B already (a punch request can travel to it).
  managerFixture({ retryBaseMs: 1_000, peers: [[B, '198.51.100.7:1194']], deps: { onLocalSubnet: onLan }, planContext: () => ({ reachable: [B] }) });

test('both behind EIM NATs on one LAN: an ordinary request at the LAN address, not a punch, and not at the router', async (t) => {
  const s = setup();
  s.peers.upsertPeer({ prefix: B, addresses: ['192.168.1.3:1194', '198.51.100.7:1194'], source: 'lan' }, s.clock.nowMs());
  const p = puncher('punch');
  s.manager.setPuncher(p);
  t.true(await s.manager.open(B));
  t.deepEqual(p.punched, []);
  t.deepEqual(s.peerproto.requests.map((r) => `${r.to.host}:${r.to.port}`), ['192.168.1.3:1194']);
  t.deepEqual(s.ends.at(-1), { role: 'client', peer: B, ifName: 'rn2', remote: { host: '192.168.1.3', port: 1195 } });
});

test('both behind EIM NATs, LAN address silent: hole punching after it, as without one', async (t) => {
  const s = setup();
  s.peers.upsertPeer({ prefix: B, addresses: ['192.168.1.3:1194', '198.51.100.7:1194'], source: 'lan' }, s.clock.nowMs());
  const p = puncher('punch');
  s.manager.setPuncher(p);
  s.peerproto.answer = () => new PeerProtoError('RN_PEERPROTO_TIMEOUT', 'no reply');
  t.false(await s.manager.open(B));
  t.deepEqual(s.peerproto.requests.map((r) => r.to.host), ['192.168.1.3']);
  t.deepEqual(p.punched, [B]);
});

test('no LAN address: EIM peers punch at once (nothing changes for peers behind other routers)', async (t) => {
  const s = setup();
  const p = puncher('punch');
  s.manager.setPuncher(p);
  t.false(await s.manager.open(B));
  t.deepEqual(s.peerproto.requests, []);
  t.deepEqual(p.punched, [B]);
});

test('classes that rule a tunnel out (apdm) still get one over the LAN: the planner keeps the peer, the manager asks on the LAN only', async (t) => {
  const s = setup();
  s.peers.upsertPeer({ prefix: B, addresses: ['192.168.1.3:1194', '198.51.100.7:1194'], source: 'lan' }, s.clock.nowMs());
  const p = puncher('impossible');
  s.manager.setPuncher(p);
  const plan = await s.manager.planRound(new AbortController().signal);
  t.deepEqual(plan.open.map((a) => a.peer), [B]);
  t.false(plan.reasons.some((r) => r.startsWith(`skip ${B}`)), plan.reasons.join('; '));
  t.deepEqual(s.peerproto.requests.map((r) => r.to.host), ['192.168.1.3']);
  t.deepEqual(p.punched, []);
});

test('planner: an apdm peer is skipped from an apdm node unless it shares our LAN', (t) => {
  const peer = { prefix: B, dead: false, retryAtMs: 0, addresses: ['198.51.100.7:1194'], natClass: 'apdm' as const };
  const snapshot = (sameLan: boolean) => ({
    self: SELF, clientCount: 1, servesNobody: false, outgoing: [], incoming: [], reachable: [], neighbours: [],
    lastRefreshAtMs: undefined, policy: DEFAULT_TUNNEL_POLICY, selfNatClass: 'apdm' as const,
    peers: [sameLan ? { ...peer, sameLan } : peer],
  });
  t.deepEqual(planTunnels(snapshot(false), 1_000_000, () => 0).open, []);
  t.deepEqual(planTunnels(snapshot(true), 1_000_000, () => 0).open.map((a) => a.peer), [B]);
});
