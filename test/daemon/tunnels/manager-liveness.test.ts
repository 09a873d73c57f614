// The tunnel manager's side of NAT and link liveness: servesNobody is really
// computed from incoming requests and fed to the planner; liveness marks a
// tunnel down and up without "established" lines; an exited openvpn's interface
// leaves babel at once; a peer's addresses are tried in the injected dial order.
import test from 'ava';
import { pino } from 'pino';
import { EventLog } from '../../../daemon/events.js';
import { PeerDb } from '../../../daemon/peers/peer-db.js';
import type { Incoming, PeerAddress } from '../../../daemon/peerproto/protocol.js';
import type { SupervisorEvent } from '../../../daemon/supervisor/supervisor.js';
import { DEFAULT_TUNNEL_POLICY } from '../../../daemon/tunnels/plan.js';
import { SERVES_NOBODY_AFTER_MS, TunnelManager } from '../../../daemon/tunnels/manager.js';
import type { PeerMessage } from '../../../wire/messages.js';
import { FakeClock } from '../../fakes/fake-clock.js';

const SELF = 'fd00:1:0:1::/64';
const PEERS = [2, 3, 4, 5, 6, 7].map((i) => `fd00:1:0:${i}::/64`);

function setup(options: { orderAddresses?: (a: readonly string[]) => string[] } = {}) {
  const clock = new FakeClock(1_000_000);
  const events = new EventLog({ clock });
  const started: Array<{ name: string; onLine?: (line: string, pid: number) => void }> = [];
  const supervisorListeners: Array<(ev: SupervisorEvent) => void> = [];
  const requests: PeerAddress[] = [];
  let handler: ((ev: Incoming<any>) => any) | undefined;
  const babelCalls: string[] = [];
  const peers = new PeerDb(':memory:');
  const manager = new TunnelManager(
    { ownPrefix: SELF, underlayPort: 1194, maxClients: 4, connectTimeoutMs: 30_000, lostTimeoutMs: 60_000, requestTimeoutMs: 2_000, requestAttempts: 1, drainTimeoutMs: 10_000 },
    {
      clock,
      log: pino({ level: 'silent' }),
      events,
      supervisor: {
        start: (spec, o) => void started.push({ name: spec.name, ...(o.onLine ? { onLine: o.onLine } : {}) }),
        stop: async () => undefined,
        pid: () => 4242,
        on: (l) => {
          supervisorListeners.push(l);
          return () => undefined;
        },
      },
      peerproto: {
        async request(to: PeerAddress, _msg: PeerMessage): Promise<Incoming> {
          requests.push(to);
          return { from: { prefix: to.prefix!, serial: '2b', host: to.host, port: to.port }, msg: { kind: 'tunnel-accept', port: 1195 } };
        },
        send: async () => undefined,
        setHandler: (_k, h) => void (handler = h),
        on: () => () => undefined,
      },
      peers,
      babel: {
        addInterface: async (i) => void babelCalls.push(`add ${i}`),
        removeInterface: async (i) => void babelCalls.push(`flush ${i}`),
        raiseCost: async (i) => void babelCalls.push(`cost ${i}`),
        routeCount: () => 0,
      },
      openvpnArgv: (end) => ['openvpn', '--dev', end.ifName],
      ifNameFor: (p) => `rn${p.split(':')[3]}`,
      isUdpPortFree: async () => true,
      planContext: () => ({ peers: peers.listPeers(), reachable: [], neighbours: [], clientCount: 4, policy: { ...DEFAULT_TUNNEL_POLICY, refreshIntervalMs: 86_400_000 } }),
      ...(options.orderAddresses ? { orderAddresses: options.orderAddresses } : {}),
      rand: () => 0,
    },
  );
  manager.start();
  PEERS.forEach((p, i) => peers.upsertPeer({ prefix: p, addresses: [`10.0.0.${i + 2}:1194`], source: 'registry' }, clock.nowMs()));
  const upAll = () => {
    for (const s of started) s.onLine?.('Initialization Sequence Completed', 4242);
  };
  const tunnelRequest = (prefix: string) =>
    handler!({ from: { prefix, serial: '77', host: '10.0.9.9', port: 1194 }, msg: { kind: 'tunnel-request', role: 'client', proto: 'udp' }, requestId: 1 });
  return { clock, events, started, supervisorListeners, requests, babelCalls, peers, manager, upAll, tunnelRequest };
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
  s.manager.setLinkUp(peer);
  t.is(s.manager.get(peer)!.state, 'up');
  t.is(s.events.list().length, lines, 'the monitor writes the lost/restored lines, not the manager');
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
  for (const l of s.supervisorListeners) {
    l({ kind: 'child-exited', name: `openvpn to ${peer}`, pid: 4242, code: null, signal: 'SIGKILL', restartInMs: 0, failures: 1, ranForMs: 5_000 });
  }
  t.deepEqual(s.babelCalls, ['flush rn2']);
  s.upAll();
  t.deepEqual(s.babelCalls, ['flush rn2', 'add rn2']);
});

test('a peer\'s addresses are tried in the injected dial order; a tunnel request keeps the announced ones', async (t) => {
  const s = setup({ orderAddresses: (a) => [...a].reverse() });
  const peer = PEERS[0]!;
  s.peers.upsertPeer({ prefix: peer, addresses: ['198.51.100.1:1194', '10.0.0.2:1194'], source: 'peer' }, s.clock.nowMs());
  await s.manager.open(peer);
  t.deepEqual(s.requests.map((r) => `${r.host}:${r.port}`), ['10.0.0.2:1194']);
  const other = PEERS[1]!;
  s.peers.upsertPeer({ prefix: other, addresses: ['198.51.100.3:1194', '10.0.0.3:1194'], source: 'peer' }, s.clock.nowMs());
  await s.tunnelRequest(other);
  t.deepEqual(s.peers.getPeer(other)!.addresses, ['10.0.9.9:1194', '198.51.100.3:1194', '10.0.0.3:1194']);
});
