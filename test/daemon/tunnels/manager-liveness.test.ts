// The tunnel manager's side of NAT and link liveness: servesNobody is really
// computed from incoming requests and fed to the planner; liveness marks a
// tunnel down and up without "established" lines; an exited openvpn's interface
// leaves babel at once; a peer's addresses are tried in the injected dial order.
import test from 'ava';
import { DEFAULT_TUNNEL_POLICY } from '../../../daemon/tunnels/plan.js';
import { SERVES_NOBODY_AFTER_MS, type TunnelManager } from '../../../daemon/tunnels/manager.js';
import { managerFixture, peerPrefix } from './manager-fixture.js';

const PEERS = [2, 3, 4, 5, 6, 7].map(peerPrefix);

function setup(options: { orderAddresses?: (a: readonly string[]) => string[] } = {}) {
  return managerFixture({
    options: { maxClients: 4 },
    peers: PEERS.map((p, i) => [p, `10.0.0.${i + 2}:1194`]),
    planContext: () => ({ clientCount: 4, policy: { ...DEFAULT_TUNNEL_POLICY, refreshIntervalMs: 86_400_000 } }),
    ...options,
  });
}

const outgoingLive = (m: TunnelManager) => m.list().filter((t) => t.direction === 'outgoing' && t.state !== 'draining').length;

test('a node no one opened a tunnel to for 10 minutes serves nobody: at most 2 outgoing tunnels', async (t) => {
  const s = setup();
  const ctl = new AbortController();
  await s.manager.planRound(ctl.signal);
  s.upAll();
  t.is(outgoingLive(s.manager), 4);
  await s.clock.advance(SERVES_NOBODY_AFTER_MS - 1_000);
  const before = await s.manager.planRound(ctl.signal);
  t.deepEqual(before.drain, []);
  await s.clock.advance(1_000);
  const plan = await s.manager.planRound(ctl.signal);
  t.is(plan.drain.length, 2, JSON.stringify(plan.reasons));
  t.true(plan.reasons.some((r) => /serves nobody: at most 2/.test(r)), JSON.stringify(plan.reasons));
});

test('one incoming tunnel request is enough: the node serves someone and keeps its tunnels', async (t) => {
  const s = setup();
  const ctl = new AbortController();
  await s.manager.planRound(ctl.signal);
  s.upAll();
  await s.tunnelRequest('fd00:1:0:99::/64');
  await s.clock.advance(SERVES_NOBODY_AFTER_MS * 2);
  const plan = await s.manager.planRound(ctl.signal);
  t.deepEqual(plan.drain, []);
  t.false(plan.reasons.some((r) => /serves nobody/.test(r)));
});

test('link liveness: down and up again without "established" lines; closed if it stays down', async (t) => {
  const s = setup();
  const peer = PEERS[0]!;
  t.true(await s.manager.open(peer));
  s.upAll();
  t.is(s.manager.get(peer)!.state, 'up');
  const lines = s.events.list().length;
  s.manager.setLinkDown(peer, 'no hello for 1.0 s');
  t.is(s.manager.get(peer)!.state, 'connecting');
  const greetings = s.routeRequests.length;
  s.manager.setLinkUp(peer);
  t.is(s.manager.get(peer)!.state, 'up');
  t.is(s.events.list().length, lines, 'the monitor writes the lost/restored lines, not the manager');
  t.deepEqual(s.routeRequests.slice(greetings), [`${s.manager.get(peer)!.ifName} ${peer}`], 'the peer\'s babeld is greeted again');
  s.manager.setLinkDown(peer, 'no hello for 1.0 s');
  await s.clock.advance(60_000);
  s.manager.checkTimeouts(s.clock.nowMs());
  t.is(s.manager.get(peer), undefined);
  t.true(s.events.list().some((e) => e.text === `link with ${peer} closed (down for 60 s)`), JSON.stringify(s.events.list()));
});

test('an openvpn end that exits leaves babel at once and is added again when it is back up', async (t) => {
  const s = setup();
  const peer = PEERS[0]!;
  await s.manager.open(peer);
  s.upAll();
  s.babelCalls.length = 0;
  s.emit({ kind: 'child-exited', name: `openvpn to ${peer}`, pid: 4242, code: null, signal: 'SIGKILL', restartInMs: 0, failures: 1, ranForMs: 5_000 });
  t.deepEqual(s.babelCalls, ['flush rn2']);
  s.upAll();
  t.deepEqual(s.babelCalls, ['flush rn2', 'add rn2']);
});

test('a peer\'s addresses are tried in the injected dial order; a tunnel request keeps the announced ones', async (t) => {
  const s = setup({ orderAddresses: (a) => [...a].reverse() });
  const peer = PEERS[0]!;
  s.peers.upsertPeer({ prefix: peer, addresses: ['198.51.100.1:1194', '10.0.0.2:1194'], source: 'peer' }, s.clock.nowMs());
  await s.manager.open(peer);
  t.deepEqual(s.requests.map((r) => `${r.to.host}:${r.to.port}`), ['10.0.0.2:1194']);
  const other = PEERS[1]!;
  s.peers.upsertPeer({ prefix: other, addresses: ['198.51.100.3:1194', '10.0.0.3:1194'], source: 'peer' }, s.clock.nowMs());
  await s.tunnelRequest(other);
  t.deepEqual(s.peers.getPeer(other)!.addresses, ['10.0.9.9:1194', '198.51.100.3:1194', '10.0.0.3:1194']);
});
