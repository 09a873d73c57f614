// The manager's traffic-aware event lines on a fake clock: a refresh that opens
// a tunnel for steady traffic says how much and which tunnel carried it; a
// busiest tunnel a refresh passes over is announced once, not at every refresh.
import test from 'ava';
import { pino } from 'pino';
import { EventLog, formatRate } from '../../../daemon/events.js';
import type { Incoming, PeerAddress } from '../../../daemon/peerproto/protocol.js';
import { PeerDb } from '../../../daemon/peers/peer-db.js';
import { DEFAULT_TUNNEL_POLICY } from '../../../daemon/tunnels/plan.js';
import { TunnelManager } from '../../../daemon/tunnels/manager.js';
import type { PeerMessage } from '../../../wire/messages.js';
import { FakeClock } from '../../fakes/fake-clock.js';

const SELF = 'fd00:1:0:1::/64';
const X = 'fd00:1:0:2::/64';
const C = 'fd00:1:0:3::/64';
const ifNameFor = (p: string): string => `rn${p.split(':')[3]}`;

function setup() {
  const clock = new FakeClock(1_000_000);
  const events = new EventLog({ clock });
  const lines = new Map<string, (line: string) => void>();
  const peers = new PeerDb(':memory:', { retryBaseMs: 1_000 });
  let traffic = new Map<string, number>();
  let via = new Map<string, string>();
  const manager = new TunnelManager(
    { ownPrefix: SELF, underlayPort: 1194, maxClients: 2, connectTimeoutMs: 30_000, lostTimeoutMs: 60_000, requestTimeoutMs: 2_000, requestAttempts: 1, drainTimeoutMs: 10_000 },
    {
      clock,
      log: pino({ level: 'silent' }),
      events,
      supervisor: {
        start: (spec, options) => void lines.set(spec.name, (line) => options.onLine?.(line, 4242)),
        stop: async () => undefined,
        pid: () => 4242,
        on: () => () => undefined,
      },
      peerproto: {
        request: async (to: PeerAddress, _msg: PeerMessage): Promise<Incoming> => ({ from: { prefix: to.prefix!, serial: '2b', host: to.host, port: to.port }, msg: { kind: 'tunnel-accept', port: 1195 } }),
        send: async () => undefined,
        setHandler: () => undefined,
        on: () => () => undefined,
      },
      peers,
      babel: { addInterface: async () => undefined, removeInterface: async () => undefined, raiseCost: async () => undefined, routeCount: () => 0 },
      openvpnArgv: (end) => ['openvpn', '--dev', end.ifName],
      ifNameFor,
      isUdpPortFree: async () => true,
      planContext: () => ({
        peers: peers.listPeers(),
        reachable: [X, C],
        neighbours: [],
        clientCount: 1,
        policy: DEFAULT_TUNNEL_POLICY,
        destinationTraffic: traffic,
        destinationVia: via,
      }),
      rand: () => 0.999999,
    },
  );
  manager.start();
  for (const [p, n] of [[X, 2], [C, 3]] as const) peers.upsertPeer({ prefix: p, addresses: [`10.0.0.${n}:1194`], source: 'registry' }, clock.nowMs());
  const up = (peer: string): void => lines.get(`openvpn to ${peer}`)!('Initialization Sequence Completed');
  const set = (t: Map<string, number>, v: Map<string, string>): void => {
    traffic = t;
    via = v;
  };
  return { clock, events, manager, up, set };
}

const selection = (events: EventLog): string[] => events.list().filter((e) => e.kind === 'tunnel-selection').map((e) => e.text);

test('a refresh opens a tunnel for steady traffic with an event line; a busiest tunnel passed over is announced once', async (t) => {
  const s = setup();
  const signal = new AbortController().signal;
  t.true(await s.manager.open(X));
  s.up(X);
  await s.clock.advance(130_000); // older than the minimum age

  // X carries our 1.2 MB/s to C (and 300 B/s of its own).
  s.set(new Map([[C, 1_234_567]]), new Map([[C, X]]));
  s.manager.sampleTraffic(new Map([[ifNameFor(X), { rxBytes: 0, txBytes: 0 }]]), s.clock.nowMs());
  await s.clock.advance(5_000);
  s.manager.sampleTraffic(new Map([[ifNameFor(X), { rxBytes: 3_000_000, txBytes: 3_174_335 }]]), s.clock.nowMs());
  const plan = await s.manager.planRound(signal);
  t.deepEqual(plan.drain.map((a) => a.peer), [X]);
  t.deepEqual(plan.open.map((a) => a.peer), [C]);
  t.deepEqual(selection(s.events), [`tunnel to ${C} opened: carries 1.2 MB/s of our traffic to it (was via ${X})`]);
  await s.clock.advance(1_000); // the drain finds no routes left on X and closes it
  t.is(s.manager.get(X), undefined);

  // C now carries the flow itself. Two refreshes later (C is young at the first): kept, once.
  s.up(C);
  s.set(new Map([[C, 1_234_567]]), new Map([[C, C]]));
  s.manager.sampleTraffic(new Map([[ifNameFor(C), { rxBytes: 0, txBytes: 0 }]]), s.clock.nowMs());
  await s.clock.advance(5_000);
  s.manager.sampleTraffic(new Map([[ifNameFor(C), { rxBytes: 3_000_000, txBytes: 3_174_335 }]]), s.clock.nowMs());
  await s.clock.advance(300_000);
  for (let i = 0; i < 3; i++) {
    const p = await s.manager.planRound(signal);
    t.deepEqual([p.open, p.drain], [[], []], `round ${i}: ${p.reasons.join(' | ')}`);
    t.deepEqual(p.kept.map((k) => k.peer), [C]);
    await s.clock.advance(300_000);
  }
  const texts = selection(s.events);
  t.is(texts.length, 2, JSON.stringify(texts));
  t.regex(texts[1]!, new RegExp(`^tunnel with ${C.replace(/[.:/]/g, '\\$&')} kept: busiest \\(1\\.2 MB/s; a refresh passed it over at score 3\\.09\\)$`));
});

test('rates in event lines', (t) => {
  t.deepEqual([0, -3, 850.4, 1_000, 12_345, 99_949, 123_456, 1_234_567, 2.5e9].map(formatRate), ['0 B/s', '0 B/s', '850 B/s', '1.0 kB/s', '12.3 kB/s', '99.9 kB/s', '123 kB/s', '1.2 MB/s', '2.5 GB/s']);
});
