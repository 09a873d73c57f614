// planTunnels on a simulated clock: each step changes the world, plans, checks
// the plan, then applies it the way the executor would.
import test from 'ava';
import {
  DEFAULT_TUNNEL_POLICY,
  planTunnels,
  type OutgoingTunnel,
  type PlanPeer,
  type TunnelPlan,
  type TunnelSnapshot,
} from '../../../daemon/tunnels/plan.js';

const SELF = 'fd5e:1:0:ff::/64';
const P = (n: number): string => `fd5e:1:0:${n}::/64`;
const S = 1000;

/** rand that never swaps: shuffles keep the sorted order, so picks are predictable. */
const keepOrder = (): number => 0.999999;

function peer(n: number, extra: Partial<PlanPeer> = {}): PlanPeer {
  return { prefix: P(n), dead: false, retryAtMs: 0, addresses: [`10.0.0.${n}:1194`], ...extra };
}

function snapshot(extra: Partial<TunnelSnapshot> = {}): TunnelSnapshot {
  return {
    self: SELF,
    clientCount: 3,
    servesNobody: false,
    outgoing: [],
    incoming: [],
    peers: [1, 2, 3, 4, 5, 6].map((n) => peer(n)),
    reachable: [P(1), P(2), P(3), P(4)],
    neighbours: [],
    lastRefreshAtMs: undefined,
    policy: { ...DEFAULT_TUNNEL_POLICY, refreshIntervalMs: 300 * S, minTunnelAgeMs: 120 * S, openTimeoutMs: 60 * S, busiestShare: 0.2 },
    ...extra,
  };
}

interface Step {
  atS: number;
  change?: (s: TunnelSnapshot) => TunnelSnapshot;
  open?: string[];
  drain?: string[];
  close?: string[];
  reasons?: RegExp[];
}

function tunnel(s: TunnelSnapshot, peerPrefix: string, patch: Partial<OutgoingTunnel>): TunnelSnapshot {
  return { ...s, outgoing: s.outgoing.map((t) => (t.peer === peerPrefix ? { ...t, ...patch } : t)) };
}

function setPeer(s: TunnelSnapshot, prefix: string, patch: Partial<PlanPeer>): TunnelSnapshot {
  return { ...s, peers: s.peers.map((p) => (p.prefix === prefix ? { ...p, ...patch } : p)) };
}

/** What the executor does with a plan. */
function apply(s: TunnelSnapshot, plan: TunnelPlan, nowMs: number): TunnelSnapshot {
  const closed = new Set(plan.close.map((a) => a.peer));
  const drained = new Set(plan.drain.map((a) => a.peer));
  const outgoing = s.outgoing
    .filter((t) => !closed.has(t.peer))
    .map((t) => (drained.has(t.peer) ? { ...t, state: 'draining' as const } : t))
    .concat(plan.open.map((a) => ({ peer: a.peer, state: 'opening' as const, openedAtMs: nowMs, routeCount: 0, bytesPerSec: 0 })));
  return { ...s, outgoing, lastRefreshAtMs: plan.refreshed ? nowMs : s.lastRefreshAtMs };
}

function run(t: import('ava').ExecutionContext, start: TunnelSnapshot, steps: Step[], rand: () => number = keepOrder): TunnelSnapshot {
  let s = start;
  for (const step of steps) {
    const nowMs = step.atS * S;
    if (step.change) s = step.change(s);
    const plan = planTunnels(s, nowMs, rand);
    const label = `t=${step.atS}s: ${plan.reasons.join(' | ')}`;
    t.deepEqual(plan.open.map((a) => a.peer), step.open ?? [], `open at ${label}`);
    t.deepEqual(plan.drain.map((a) => a.peer), step.drain ?? [], `drain at ${label}`);
    t.deepEqual(plan.close.map((a) => a.peer), step.close ?? [], `close at ${label}`);
    for (const r of step.reasons ?? []) t.true(plan.reasons.some((line) => r.test(line)), `reason ${r} at ${label}`);
    s = apply(s, plan, nowMs);
  }
  return s;
}

test('fill, one replacement per refresh, protection, retry and dead peers', (t) => {
  run(t, snapshot(), [
    { atS: 0, open: [P(1), P(2), P(3)], reasons: [/^open fd5e:1:0:1::\/64: fill 1\/3: random peer babel reaches, not adjacent$/] },
    {
      atS: 10,
      change: (s) => tunnel(tunnel(tunnel(s, P(1), { state: 'up', routeCount: 5 }), P(2), { state: 'up', routeCount: 1 }), P(3), { state: 'up', routeCount: 2 }),
    },
    { atS: 200 }, // no refresh due yet: nothing moves
    {
      atS: 300,
      drain: [P(2)],
      open: [P(4)],
      reasons: [/^drain fd5e:1:0:2::\/64: refresh: lowest score 1\.00 \(1 routes, 0 B\/s\)$/, /^open fd5e:1:0:4::\/64: refresh: replaces fd5e:1:0:2::\/64/],
    },
    { atS: 310, change: (s) => tunnel(s, P(4), { state: 'up', routeCount: 1 }) },
    // The executor finished draining P2; P2 failed once meanwhile, so its retry is not due.
    // …and once no live peer is left, the due dead one fills the slot.
    { atS: 320, change: (s) => setPeer({ ...s, outgoing: s.outgoing.filter((x) => x.peer !== P(2)) }, P(2), { retryAtMs: 2000 * S }) },
    {
      // P4 carries the most traffic: protected. P3 is lowest of the rest. P2 is not due,
      // so the replacement comes from the peers babel does not reach.
      atS: 600,
      change: (s) => tunnel(s, P(4), { bytesPerSec: 1e6 }),
      drain: [P(3)],
      open: [P(5)],
      reasons: [/random known peer babel does not reach/],
    },
    // P5 never comes up: closed after the open timeout; its slot is filled with P6.
    { atS: 700, close: [P(5)], open: [P(6)], reasons: [/^close fd5e:1:0:5::\/64: not up after 100 s$/] },
    {
      // P1 is revoked (marked dead): closed at once; P5 backs off; nobody left to fill with.
      atS: 710,
      change: (s) => setPeer(setPeer(s, P(1), { dead: true, deadCause: 'revoked', deadReason: 'certificate revoked' }), P(5), { retryAtMs: 5000 * S }),
      close: [P(1)],
      reasons: [/^close fd5e:1:0:1::\/64: peer is dead \(certificate revoked\)$/, /^fill: 2\/3 tunnels, no eligible peer left$/],
    },
  ]);
});

test('a node that serves nobody keeps at most 2 outgoing tunnels', (t) => {
  const up = (n: number, routes: number): OutgoingTunnel => ({ peer: P(n), state: 'up', openedAtMs: 0, routeCount: routes, bytesPerSec: 0 });
  run(t, snapshot({ clientCount: 4, outgoing: [up(1, 4), up(2, 1), up(3, 3), up(4, 0)], lastRefreshAtMs: 0 }), [
    { atS: 10, change: (s) => ({ ...s, servesNobody: true }), drain: [P(4), P(2)], reasons: [/over capacity 4\/2 \(serves nobody: at most 2\)/] },
    { atS: 20 },
    // Serving again: back to 4 (the drained peers still count as adjacent).
    { atS: 30, change: (s) => ({ ...s, servesNobody: false }), open: [P(5), P(6)] },
  ]);
  // Starting from nothing while serving nobody: only 2 are opened.
  const plan = planTunnels(snapshot({ clientCount: 4, servesNobody: true }), 0, keepOrder);
  t.deepEqual(plan.open.map((a) => a.peer), [P(1), P(2)]);
});

test('configured neighbours are opened first and never replaced; young tunnels are protected', (t) => {
  run(t, snapshot({ clientCount: 2, neighbours: [P(6)] }), [
    { atS: 0, open: [P(6), P(1)], reasons: [/^open fd5e:1:0:6::\/64: fill 1\/2: configured neighbour$/] },
    { atS: 10, change: (s) => tunnel(tunnel(s, P(6), { state: 'up' }), P(1), { state: 'up', routeCount: 3 }) },
    // Refresh at 100 s: P1 is younger than 120 s, P6 is a neighbour.
    { atS: 100, change: (s) => ({ ...s, lastRefreshAtMs: -300 * S }), reasons: [/every tunnel is protected \(.*fd5e:1:0:6::\/64 configured neighbour.*\)/] },
    // Next refresh: P1 is old enough and is replaced although P6 scores lower.
    { atS: 400, drain: [P(1)], open: [P(2)] },
  ]);
});

test('never opens to revoked peers, peers not due (dead or not), peers without address, ourselves or adjacent peers', (t) => {
  const s = snapshot({
    clientCount: 5,
    incoming: [P(1)],
    peers: [
      peer(1),
      peer(2, { dead: true, deadCause: 'failures', deadReason: '3 failed attempts (connection refused)', retryAtMs: 20 * S }),
      peer(3, { retryAtMs: 10 * S }),
      peer(4, { addresses: [] }),
      { prefix: SELF, dead: false, retryAtMs: 0, addresses: ['10.0.0.255:1194'] },
      peer(5),
      peer(7, { dead: true, deadCause: 'revoked', deadReason: 'certificate 7 revoked', retryAtMs: 0 }),
    ],
    reachable: [P(1), P(2), P(3), P(4), P(5), SELF],
  });
  const plan = planTunnels(s, 0, keepOrder);
  t.deepEqual(plan.open.map((a) => a.peer), [P(5)]);
  t.true(plan.reasons.includes('fill: 1/5 tunnels, no eligible peer left'));
  t.deepEqual(planTunnels(s, 10 * S, keepOrder).open.map((a) => a.peer), [P(3), P(5)], 'P3 once its retry is due');
  t.deepEqual(planTunnels(s, 20 * S, keepOrder).open.map((a) => a.peer), [P(3), P(5), P(2)], 'dead P2 once its retry is due, after the live ones; revoked P7 never');
});

test('dead peers are a last resort: opened only when no live candidate is left and their retry is due; never a refresh replacement', (t) => {
  const dead = (n: number, retryAtS: number): PlanPeer => peer(n, { dead: true, deadCause: 'failures', deadReason: '3 failed attempts (no answer)', retryAtMs: retryAtS * S });
  const start = snapshot({ peers: [peer(1), peer(2), dead(3, 100), dead(4, 50), peer(5, { retryAtMs: 100 * S })] });
  run(t, start, [
    { atS: 0, open: [P(1), P(2)], reasons: [/^fill: 2\/3 tunnels, no eligible peer left$/] },
    { atS: 10, change: (s) => tunnel(tunnel(s, P(1), { state: 'up', routeCount: 2 }), P(2), { state: 'up', routeCount: 1 }) },
    { atS: 49, reasons: [/^fill: 2\/3 tunnels, no eligible peer left$/] },
    { atS: 50, open: [P(4)], reasons: [/^open fd5e:1:0:4::\/64: fill 3\/3: last resort: dead peer due for its retry \(3 failed attempts \(no answer\)\)$/] },
    // Its tunnel is its retry: not closed for being dead.
    { atS: 55 },
    // The retry failed: the executor closed it and the DB backed off.
    { atS: 60, change: (s) => setPeer({ ...s, outgoing: s.outgoing.filter((x) => x.peer !== P(4)) }, P(4), { retryAtMs: 400 * S }) },
    // P3 (dead) and P5 (live) are both due: the live one wins the slot.
    { atS: 100, open: [P(5)], reasons: [/^open fd5e:1:0:5::\/64: fill 3\/3: random known peer babel does not reach$/] },
    { atS: 110, change: (s) => tunnel(s, P(5), { state: 'up', routeCount: 1 }) },
    // At capacity, the refresh finds only dead P3 to replace with: it keeps its tunnels.
    { atS: 300, reasons: [/^refresh: no eligible peer to replace fd5e:1:0:\d::\/64 with, keeping it$/] },
    // A tunnel is lost: a live peer (P2 itself) is still preferred to the due dead one…
    { atS: 310, change: (s) => ({ ...s, outgoing: s.outgoing.filter((x) => x.peer !== P(2)) }), open: [P(2)] },
    // …and once no live peer is left, the due dead one fills the slot.
    { atS: 320, change: (s) => ({ ...s, outgoing: s.outgoing.filter((x) => x.peer !== P(2)), peers: s.peers.filter((p) => p.prefix !== P(2)) }), open: [P(3)], reasons: [/last resort/] },
  ]);
});

test('traffic-aware replacement prefers the steady non-adjacent destination', (t) => {
  const up = (n: number, routes: number): OutgoingTunnel => ({ peer: P(n), state: 'up', openedAtMs: 0, routeCount: routes, bytesPerSec: 0 });
  const base = snapshot({ clientCount: 2, outgoing: [up(1, 3), up(2, 1)], lastRefreshAtMs: 0 });
  const traffic = new Map([
    [P(1), 90_000], // adjacent already
    [P(6), 50_000],
    [P(4), 5_000], // below the steady threshold
    ['fd5e:1:0:99::/64', 80_000], // not in the peer DB: no address to open to
  ]);
  const plan = planTunnels({ ...base, destinationTraffic: traffic }, 300 * S, keepOrder);
  t.deepEqual(plan.drain.map((a) => a.peer), [P(2)]);
  t.deepEqual(plan.open, [{ peer: P(6), reason: `refresh: replaces ${P(2)}: steady traffic 50000 B/s through other nodes` }]);
  // Without per-destination traffic the replacement is the plain random pick.
  t.deepEqual(planTunnels(base, 300 * S, keepOrder).open.map((a) => a.peer), [P(3)]);
});

test('no replacement candidate: the victim is kept', (t) => {
  const up = (n: number): OutgoingTunnel => ({ peer: P(n), state: 'up', openedAtMs: 0, routeCount: n, bytesPerSec: 0 });
  const plan = planTunnels(snapshot({ clientCount: 2, peers: [peer(1), peer(2)], outgoing: [up(1), up(2)], lastRefreshAtMs: 0 }), 300 * S, keepOrder);
  t.deepEqual([plan.open, plan.drain, plan.close], [[], [], []]);
  t.true(plan.refreshed);
  t.deepEqual(plan.reasons, [`refresh: no eligible peer to replace ${P(1)} with, keeping it`]);
});

test('the random source decides among equal candidates', (t) => {
  const picks = new Set<string>();
  let seed = 1;
  const lcg = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let i = 0; i < 50; i++) {
    const plan = planTunnels(snapshot({ clientCount: 1 }), 0, lcg);
    t.is(plan.open.length, 1);
    t.true([P(1), P(2), P(3), P(4)].includes(plan.open[0]!.peer), 'reachable peers come first');
    picks.add(plan.open[0]!.peer);
  }
  t.true(picks.size > 1);
});

test('client_count 1: steady traffic to a non-adjacent node replaces the tunnel that carries it; the direct tunnel is then kept as busiest', (t) => {
  const X = P(1);
  const C = P(3);
  const start = snapshot({
    clientCount: 1,
    outgoing: [{ peer: X, state: 'up', openedAtMs: 0, routeCount: 3, bytesPerSec: 125_300 }],
    destinationTraffic: new Map([[C, 125_000]]),
    destinationVia: new Map([[C, X]]),
    lastRefreshAtMs: 0,
  });
  // Without knowing which tunnel carries the flow, X is the busiest and the refresh keeps it.
  const blind = planTunnels({ ...start, destinationVia: new Map() }, 300 * S, keepOrder);
  t.deepEqual([blind.open, blind.drain], [[], []]);
  t.deepEqual(blind.kept, [{ peer: X, bytesPerSec: 125_300, score: 3 + Math.log10(1 + 125.3) }]);

  const end = run(t, start, [
    { atS: 100 }, // no refresh due yet
    {
      // X carries 300 B/s of its own (babel) once C's flow is taken off: not busiest, replaced by C.
      atS: 300,
      drain: [X],
      open: [C],
      reasons: [/^open fd5e:1:0:3::\/64: refresh: replaces fd5e:1:0:1::\/64: steady traffic 125000 B\/s through other nodes$/],
    },
    // C is up and carries the flow directly; X is drained and gone.
    {
      atS: 310,
      change: (s) => ({ ...tunnel(s, C, { state: 'up', routeCount: 3, bytesPerSec: 125_300 }), destinationVia: new Map([[C, C]]) }),
    },
    // …and once no live peer is left, the due dead one fills the slot.
    { atS: 320, change: (s) => ({ ...s, outgoing: s.outgoing.filter((x) => x.peer !== X) }) },
    // Next refresh: C carries steady traffic, so a replacement (X is eligible again) passes it over.
    { atS: 600, reasons: [/every tunnel is protected \(fd5e:1:0:3::\/64 busiest\)/, /^keep fd5e:1:0:3::\/64: busiest \(125300 B\/s\)$/] },
    // The flow ends: babel's hellos alone do not protect it, so the refresh replaces it again.
    { atS: 900, change: (s) => ({ ...tunnel(s, C, { bytesPerSec: 300 }), destinationTraffic: new Map() }), drain: [C], open: [X] },
  ]);
  t.is(end.outgoing.find((x) => x.peer === C)?.state, 'draining');

  const opened = planTunnels(start, 300 * S, keepOrder);
  t.deepEqual(opened.trafficOpen, { peer: C, bytesPerSec: 125_000, via: X, replaces: X });
  t.deepEqual(opened.kept, []);
  const random = planTunnels({ ...start, destinationTraffic: new Map([[C, 9_999]]) }, 300 * S, keepOrder);
  t.is(random.trafficOpen, undefined, 'below the steady threshold the pick is random');
  t.deepEqual(random.kept, [{ peer: X, bytesPerSec: 125_300, score: 3 + Math.log10(1 + 125.3) }], 'and X keeps its traffic: busiest');
});

test('busiest share: only steady traffic protects; busiest tunnels ranked below the victim are listed as kept', (t) => {
  const up = (n: number, routes: number, bytesPerSec: number): OutgoingTunnel => ({ peer: P(n), state: 'up', openedAtMs: 0, routeCount: routes, bytesPerSec });
  const s = snapshot({
    clientCount: 4,
    outgoing: [up(1, 0, 20_000), up(2, 1, 9_000), up(3, 2, 500), up(4, 5, 0)],
    lastRefreshAtMs: 0,
    policy: { ...snapshot().policy, busiestShare: 0.5 },
  });
  const plan = planTunnels(s, 300 * S, keepOrder);
  // Two busiest slots, but only P1 carries steady traffic; P2 (9 kB/s) is the lowest of the rest.
  t.deepEqual(plan.drain.map((a) => a.peer), [P(2)]);
  t.deepEqual(plan.kept.map((k) => [k.peer, k.bytesPerSec]), [[P(1), 20_000]]);
  t.true(plan.reasons.includes(`keep ${P(1)}: busiest (20000 B/s)`));
  // No refresh due, or nothing to replace with: nothing is reported as kept.
  t.deepEqual(planTunnels(s, 200 * S, keepOrder).kept, []);
  t.deepEqual(planTunnels({ ...s, peers: [1, 2, 3, 4].map((n) => peer(n)) }, 300 * S, keepOrder).kept, []);
});

test('a lost link stops filling a slot after lostFillMs: a replacement opens; when it comes back the node drains one', (t) => {
  const up = (n: number, routes: number): OutgoingTunnel => ({ peer: P(n), state: 'up', openedAtMs: 0, routeCount: routes, bytesPerSec: 0 });
  const lose = (s: TunnelSnapshot, n: number, ms: number): TunnelSnapshot => tunnel(s, P(n), { lostForMs: ms, routeCount: 0 });
  run(t, snapshot({ outgoing: [up(1, 3), up(2, 2), up(3, 1)], lastRefreshAtMs: 0 }), [
    // Lost for less than lostFillMs (10 s): an openvpn restart or a short gap, nothing moves.
    { atS: 10, change: (s) => lose(lose(s, 1, 9_000), 2, 9_000) },
    // Past it (a partition): both slots are filled again; the lost tunnels stay for their time-out.
    {
      atS: 12,
      change: (s) => lose(lose(s, 1, 11_000), 2, 11_000),
      open: [P(4), P(5)],
      reasons: [/^lost links not filling a slot: fd5e:1:0:1::\/64 \(11 s\), fd5e:1:0:2::\/64 \(11 s\)$/, /^open fd5e:1:0:4::\/64: fill 2\/3/],
    },
    { atS: 20, change: (s) => tunnel(tunnel(s, P(4), { state: 'up', routeCount: 2 }), P(5), { state: 'up', routeCount: 4 }) },
    // P1 comes back (the heal): 4 tunnels fill 3 slots, the lowest-scoring one is drained.
    { atS: 30, change: (s) => tunnel(s, P(1), { lostForMs: 0, routeCount: 3 }), drain: [P(3)], reasons: [/over capacity 4\/3/] },
  ]);
});

test('islands: a live peer babel does not reach gets a tunnel over capacity every 60 s; once up, the node drains its weakest older tunnel', (t) => {
  const up = (n: number, routes: number): OutgoingTunnel => ({ peer: P(n), state: 'up', openedAtMs: 0, routeCount: routes, bytesPerSec: 0 });
  const listed = (s: TunnelSnapshot, atS: number): TunnelSnapshot => setPeer(setPeer(s, P(5), { lastSeenMs: atS * S }), P(6), { lastSeenMs: atS * S });
  run(t, listed(snapshot({ outgoing: [up(1, 3), up(2, 1), up(3, 2)], lastRefreshAtMs: 0 }), 0), [
    { atS: 30 }, // the last refresh was 30 s ago: too soon
    { atS: 60, open: [P(5)], reasons: [/^open fd5e:1:0:5::\/64: another island: random known peer babel does not reach, listed 60 s ago \(over capacity until it is up\)$/] },
    { atS: 70 }, // still opening: nothing is drained for it yet, no second probe
    // Up, it brings the other island's routes: 4 up, 3 slots; the new one is young, P2 is the weakest.
    { atS: 75, change: (s) => ({ ...tunnel(s, P(5), { state: 'up', routeCount: 8 }), reachable: [P(1), P(2), P(3), P(4), P(5), P(6)] }), drain: [P(2)], reasons: [/^drain fd5e:1:0:2::\/64: over capacity 4\/3$/] },
    { atS: 80, change: (s) => ({ ...s, outgoing: s.outgoing.filter((x) => x.peer !== P(2)) }) },
    { atS: 200 }, // everyone is reached: no more probes
  ]);
});

test('islands: peers not listed lately are never probed, and a probe that fails drains nothing', (t) => {
  const up = (n: number, routes: number): OutgoingTunnel => ({ peer: P(n), state: 'up', openedAtMs: 0, routeCount: routes, bytesPerSec: 0 });
  const start = setPeer(setPeer(snapshot({ outgoing: [up(1, 3), up(2, 1), up(3, 2)], lastRefreshAtMs: 0 }), P(5), { lastSeenMs: 0 }), P(6), { lastSeenMs: -600 * S });
  run(t, start, [
    { atS: 60, open: [P(5)] },
    // The probe never comes up: closed after the open timeout, nothing else moved; P5 now waits for its retry.
    { atS: 160, close: [P(5)], reasons: [/^close fd5e:1:0:5::\/64: not up after 100 s$/] },
    { atS: 170, change: (s) => setPeer(s, P(5), { retryAtMs: 1000 * S }) },
    // P6 was listed 10 min + 230 s ago: not a sign of another island.
    { atS: 230 },
  ]);
});

test('a starved host holds still: lost links keep their slot, no island probe, the refresh waits; empty slots still fill, an excess still drains', (t) => {
  const up = (n: number, routes: number, openedAtMs = 0): OutgoingTunnel => ({ peer: P(n), state: 'up', openedAtMs, routeCount: routes, bytesPerSec: 0 });
  const starve = (s: TunnelSnapshot, lateMs: number): TunnelSnapshot => ({ ...s, lateMs });
  const listed = (s: TunnelSnapshot): TunnelSnapshot => setPeer(s, P(6), { lastSeenMs: 0 });
  run(t, listed(snapshot({ outgoing: [up(1, 3), up(2, 2), up(3, 1)], lastRefreshAtMs: 0, lateMs: 2_500 })), [
    // Two links lost for long: on time this opens two replacements (test above); starved, nothing moves.
    { atS: 20, change: (s) => tunnel(tunnel(s, P(1), { lostForMs: 15_000, routeCount: 0 }), P(2), { lostForMs: 15_000, routeCount: 0 }), reasons: [/^holding still: this host's timers ran 2\.5 s late lately/] },
    // An island peer listed lately, 60 s since the refresh: no probe while starved.
    { atS: 70 },
    // The periodic refresh is due at 300 s: it waits (and is not marked done).
    { atS: 310, change: (s) => tunnel(tunnel(s, P(1), { lostForMs: 0, routeCount: 3 }), P(2), { lostForMs: 0, routeCount: 2 }) },
    // A slot emptied (the executor closed a tunnel): it is filled even while starved.
    { atS: 320, change: (s) => setPeer({ ...s, outgoing: s.outgoing.filter((x) => x.peer !== P(3)) }, P(3), { retryAtMs: 1_000 * S }), open: [P(4)], reasons: [/^open fd5e:1:0:4::\/64: fill 3\/3/] },
    { atS: 330, change: (s) => tunnel(s, P(4), { state: 'up', routeCount: 1, openedAtMs: 320 * S }) },
    // An excess is still drained (it lowers the load).
    { atS: 340, change: (s) => ({ ...s, outgoing: [...s.outgoing, up(5, 0, 200 * S)] }), drain: [P(5)], reasons: [/over capacity 4\/3/] },
    { atS: 345, change: (s) => ({ ...s, outgoing: s.outgoing.filter((x) => x.peer !== P(5)) }) },
    // On time again: the postponed refresh runs at once and the island probe comes.
    { atS: 350, change: (s) => starve(s, 40), open: [P(5)], drain: [P(2)], reasons: [/^open fd5e:1:0:5::\/64: refresh: replaces fd5e:1:0:2::\/64/] },
  ]);
});

test('pairs whose NAT classes rule out a tunnel are skipped, with the reason; unknown classes are tried', (t) => {
  const s = snapshot({
    selfNatClass: 'apdm',
    peers: [peer(1, { natClass: 'apdm' }), peer(2, { natClass: 'eim' }), peer(3, { natClass: 'public' }), peer(4)],
    reachable: [P(1), P(2), P(3), P(4)],
  });
  const plan = planTunnels(s, 1_000_000, keepOrder);
  t.deepEqual(plan.open.map((a) => a.peer).sort(), [P(3), P(4)]);
  t.true(plan.reasons.some((r) => r.startsWith(`skip ${P(1)}: both behind port-randomising NATs`)), plan.reasons.join('\n'));
  t.true(plan.reasons.some((r) => r.startsWith(`skip ${P(2)}:`)));
  // Behind an EIM NAT an EIM peer is a punch candidate.
  const eim = planTunnels({ ...s, selfNatClass: 'eim' }, 1_000_000, keepOrder);
  t.true(eim.open.some((a) => a.peer === P(2)));
  t.false(eim.open.some((a) => a.peer === P(1)));
});
