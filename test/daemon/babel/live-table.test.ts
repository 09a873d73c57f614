import test from 'ava';
import { LiveBabelTable } from '../../../daemon/babel/live-table.js';
import { parseBabelLine, type BabelEvent } from '../../../daemon/babel/parse.js';
import { applyBabelEvent, emptyBabelTable, isUsableRoute, routeCountsByInterface, type BabelTable } from '../../../daemon/babel/table.js';
import { readTranscript } from '../../fixtures/load.js';

/** What the live table must agree on with the pure fold after every event. */
function agrees(t: { deepEqual(a: unknown, b: unknown, m?: string): void }, live: LiveBabelTable, pure: BabelTable, what: string): void {
  t.deepEqual(live.table, pure, `${what}: table`);
  const counts = routeCountsByInterface(pure);
  const ifNames = new Set([...counts.keys(), ...[...pure.routes.values()].map((r) => r.ifName)]);
  for (const ifName of ifNames) t.deepEqual(live.routeCount(ifName), counts.get(ifName) ?? 0, `${what}: routes on ${ifName}`);
  t.deepEqual(live.totalRoutes(), [...counts.values()].reduce((a, n) => a + n, 0), `${what}: total`);
  for (const r of pure.routes.values()) {
    const via = [...pure.routes.values()].find((x) => x.prefix === r.prefix && isUsableRoute(x))?.ifName ?? null;
    t.deepEqual(live.routeVia(r.prefix), via, `${what}: route to ${r.prefix}`);
  }
}

const clock = { nowMs: () => 0 };

test('in step with the pure fold over captured monitor transcripts', (t) => {
  for (const file of ['babeld-1.12.1-monitor.txt', 'babeld-1.12.1-monitor-netlab.txt']) {
    const live = new LiveBabelTable(clock);
    let pure = emptyBabelTable();
    for (const [i, line] of readTranscript(file).received.entries()) {
      const ev = parseBabelLine(line);
      live.apply(ev);
      pure = applyBabelEvent(pure, ev);
      agrees(t, live, pure, `${file} line ${i + 1}`);
    }
  }
});

/** A small deterministic generator (xorshift). */
function rng(seed: number): () => number {
  let x = seed || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

test('in step with the pure fold over random route, neighbour and interface events', (t) => {
  const next = rng(20261205);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  const live = new LiveBabelTable(clock);
  let pure = emptyBabelTable();
  for (let i = 0; i < 3000; i++) {
    const r = next();
    const action = pick(['add', 'change', 'change', 'flush'] as const);
    let ev: BabelEvent;
    if (r < 0.01) ev = { kind: 'reset' };
    else if (r < 0.1) ev = parseBabelLine(`${action} interface ${pick(['t1', 't2'])} up ${pick(['true', 'false'])}`);
    else if (r < 0.2) ev = parseBabelLine(`${action} neighbour n${pick([1, 2, 3])} address fe80::1 if t1 reach ffff rxcost 96 txcost 96 cost ${pick([96, 65535])}`);
    else {
      // As in babeld, a route id is one object: its prefix never changes.
      const n = Math.floor(next() * 12);
      const id = `r${n}`;
      const prefix = `fd00:${n % 3}::/64`;
      ev = parseBabelLine(`${action} route ${id} prefix ${prefix} from ::/0 installed ${pick(['yes', 'no'])} id a metric ${pick([96, 192, 65535])} refmetric 0 via ${pick(['fe80::1', '::'])} if ${pick(['t1', 't2', 't3'])}`);
    }
    live.apply(ev);
    pure = applyBabelEvent(pure, ev);
    agrees(t, live, pure, `event ${i + 1}`);
  }
});

test('a destination whose installed route goes is remembered as dropped for 5 s', (t) => {
  let nowMs = 1_000;
  const live = new LiveBabelTable({ nowMs: () => nowMs });
  live.apply(parseBabelLine('add route r1 prefix fd00:1::/64 from ::/0 installed yes id a metric 96 refmetric 0 via fe80::1 if t1'));
  t.deepEqual([...live.recentlyDropped()], []);
  nowMs = 2_000;
  live.apply(parseBabelLine('change route r1 prefix fd00:1::/64 from ::/0 installed no id a metric 65535 refmetric 0 via fe80::1 if t1'));
  t.deepEqual([...live.recentlyDropped()], [['fd00:1::/64', { ifName: 't1', metric: 96 }]]);
  nowMs = 7_001;
  t.deepEqual([...live.recentlyDropped()], []);
});
