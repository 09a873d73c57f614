import test from 'ava';
import { parseBabelLine } from '../../../daemon/babel/parse.js';
import { applyBabelEvent, emptyBabelTable, foldBabelEvents, neighbourList, reachablePrefixes, routeCountsByInterface } from '../../../daemon/babel/table.js';
import { readTranscript } from '../../fixtures/load.js';

/** Received lines of the reply to the n-th `sent` command (0-based) in a transcript. */
function replyTo(file: string, command: string, occurrence = 0): string[] {
  const tr = readTranscript(file);
  const out: string[] = [];
  let seen = -1;
  let inside = false;
  for (const e of tr.entries) {
    if (e.dir === 'sent') {
      if (inside) break;
      if (e.line === command && ++seen === occurrence) inside = true;
      continue;
    }
    if (inside) {
      if (/^(ok|no|bad)$/.test(e.line)) break;
      out.push(e.line);
    }
  }
  return out;
}

test('a captured dump folds into one neighbour and one usable route on the tunnel', (t) => {
  const table = foldBabelEvents(replyTo('babeld-1.12.1-dump.txt', 'dump').map(parseBabelLine));
  t.deepEqual([...routeCountsByInterface(table)], [['rn2cf797a6f7066', 1]]);
  t.deepEqual(neighbourList(table).map((n) => [n.address, n.ifName, n.cost]), [['fe80::c88a:f9d7:fd3b:48c6', 'rn2cf797a6f7066', 96]]);
  t.deepEqual(reachablePrefixes(table), ['fdf5:2127:3c00:2::/64']);
  t.is(table.interfaces.get('rn2cf797a6f7066')?.up, true);
  t.is(table.xroutes.size, 1);
});

test('the dump after the tunnel went away has no usable route', (t) => {
  const table = foldBabelEvents(replyTo('babeld-1.12.1-dump.txt', 'dump', 1).map(parseBabelLine));
  t.deepEqual([...routeCountsByInterface(table)], []);
  t.is(neighbourList(table)[0]?.cost, 65535);
});

test('folding a monitor transcript tracks the route through its life', (t) => {
  const events = readTranscript('babeld-1.12.1-monitor.txt').received.map(parseBabelLine);
  let table = emptyBabelTable();
  let maxRoutes = 0;
  for (const ev of events) {
    table = applyBabelEvent(table, ev);
    maxRoutes = Math.max(maxRoutes, routeCountsByInterface(table).get('rn2cf797a6f7066') ?? 0);
  }
  t.is(maxRoutes, 1, 'the route was usable at some point');
  t.is(table.routes.size, 0, 'flushed at the end');
});

test('the netlab monitor: two routes via ov-n2, then flushed with the interface', (t) => {
  const events = readTranscript('babeld-1.12.1-monitor-netlab.txt').received.map(parseBabelLine);
  // Just before the flush babeld first marks each route "installed no": take the peak.
  let table = emptyBabelTable();
  let peak = 0;
  for (const ev of events) {
    table = applyBabelEvent(table, ev);
    peak = Math.max(peak, routeCountsByInterface(table).get('ov-n2') ?? 0);
  }
  t.is(peak, 2);
  const after = foldBabelEvents(events);
  t.deepEqual([...routeCountsByInterface(after)], []);
  t.false(after.interfaces.has('ov-n2'));
});

test('routes with metric 65535 or not installed are not counted', (t) => {
  const lines = [
    'add route 1 prefix fd00:1::/64 from ::/0 installed yes id a metric 65535 refmetric 0 via fe80::1 if t1',
    'add route 2 prefix fd00:2::/64 from ::/0 installed no id a metric 96 refmetric 0 via fe80::1 if t1',
    'add route 3 prefix fd00:3::/64 from ::/0 installed yes id a metric 96 refmetric 0 via fe80::1 if t1',
    'add route 4 prefix fd00:4::/64 from ::/0 installed yes id a metric 192 refmetric 96 via fe80::2 if t2',
  ];
  const table = foldBabelEvents(lines.map(parseBabelLine));
  t.deepEqual(Object.fromEntries(routeCountsByInterface(table)), { t1: 1, t2: 1 });
});

test('reset empties the table; other events leave it untouched', (t) => {
  const table = foldBabelEvents(['add interface x up true ipv6 fe80::1'].map(parseBabelLine));
  t.is(applyBabelEvent(table, { kind: 'ok' }), table);
  t.is(applyBabelEvent(table, { kind: 'unknown', line: 'x', reason: 'y' }), table);
  t.is(applyBabelEvent(table, { kind: 'reset' }).interfaces.size, 0);
});

test('applyBabelEvent does not modify its input', (t) => {
  const table = emptyBabelTable();
  applyBabelEvent(table, parseBabelLine('add interface x up true'));
  t.is(table.interfaces.size, 0);
});

test('folding a transcript at once gives the table event-by-event application gives, and leaves its input as it was', (t) => {
  const events = readTranscript('babeld-1.12.1-monitor-netlab.txt').received.map(parseBabelLine);
  const half = Math.floor(events.length / 2);
  let stepwise = emptyBabelTable();
  for (const ev of events.slice(0, half)) stepwise = applyBabelEvent(stepwise, ev);
  const start = foldBabelEvents(events.slice(0, half));
  const sizesBefore = [start.interfaces.size, start.neighbours.size, start.routes.size, start.xroutes.size];
  const folded = foldBabelEvents(events.slice(half), start);
  for (const ev of events.slice(half)) stepwise = applyBabelEvent(stepwise, ev);
  t.deepEqual([start.interfaces.size, start.neighbours.size, start.routes.size, start.xroutes.size], sizesBefore);
  t.true(start.routes.size > 0, 'the first half has routes');
  for (const key of ['interfaces', 'neighbours', 'routes', 'xroutes'] as const) t.deepEqual([...folded[key]], [...stepwise[key]], key);
});
