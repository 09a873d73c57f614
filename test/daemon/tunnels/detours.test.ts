import test from 'ava';
import { pino } from 'pino';
import type { BabelRoute } from '../../../daemon/babel/parse.js';
import { DETOUR_METRIC, DETOUR_PROTO, DetourRoutes } from '../../../daemon/tunnels/detour-routes.js';
import { babelRoutesAround, detourAddLine, detourDelLine, planDetours, type LastRoute } from '../../../daemon/tunnels/detours.js';
import { FakeClock } from '../../fakes/fake-clock.js';

const X = 'fd00:1:0:2::/64'; // the peer of the tunnel that goes away (rnx)
const Z = 'fd00:1:0:3::/64'; // behind X
const Y = 'fd00:1:0:4::/64'; // another neighbour (rny)
const SELF = 'fd00:1:0:1::/64';

let nextId = 1;
function route(prefix: string, ifName: string, metric: number, refmetric: number, installed = false): BabelRoute {
  return { id: `r${nextId++}`, prefix, from: '::/0', installed, routerId: 'id', metric, refmetric, via: `fe80::${ifName}`, ifName };
}

const noneDropped = new Map<string, LastRoute>();

test('detours go through the best other neighbour whose route cannot lead back through us', (t) => {
  const routes = [
    route(X, 'rnx', 96, 0, true),
    route(X, 'rny', 192, 96), // Y is next to X: safe
    route(Z, 'rnx', 192, 96, true),
    route(Z, 'rny', 288, 192), // two hops behind Y, still below 192 + 80
    route(Y, 'rny', 96, 0, true), // not through the leaving tunnel: left alone
  ];
  const plan = planDetours(routes, noneDropped, new Set(['rnx']), { ownPrefix: SELF });
  t.deepEqual(plan.detours, [
    { prefix: X, via: 'fe80::rny', ifName: 'rny', safe: true },
    { prefix: Z, via: 'fe80::rny', ifName: 'rny', safe: true },
  ]);
  t.deepEqual(plan.uncovered, []);
});

test('a route that may come back through us is used only when there is nothing safer, and the destination stays uncovered', (t) => {
  // Y reaches X in two hops (192 = our 96 + a link): maybe through us.
  const routes = [route(X, 'rnx', 96, 0, true), route(X, 'rny', 288, 192), route(X, 'rnw', 300, 200)];
  const plan = planDetours(routes, noneDropped, new Set(['rnx']));
  t.deepEqual(plan.detours, [{ prefix: X, via: 'fe80::rny', ifName: 'rny', safe: false }]);
  t.deepEqual(plan.uncovered, [X]);
  // A safe one wins even with a higher metric.
  const safer = planDetours([...routes, route(X, 'rnv', 400, 96)], noneDropped, new Set(['rnx']));
  t.deepEqual(safer.detours, [{ prefix: X, via: 'fe80::rnv', ifName: 'rnv', safe: true }]);
});

test('a route babel already dropped still counts (the openvpn exit raced babel), and unusable or retracted routes are never chosen', (t) => {
  const dropped = new Map<string, LastRoute>([[X, { ifName: 'rnx', metric: 96 }]]);
  const routes = [route(X, 'rny', 65535, 96), route(X, 'rnu', 192, 96), route(X, 'rnw', 200, 100)];
  const plan = planDetours(routes, dropped, new Set(['rnx']), { unusable: new Set(['rnu']) });
  t.deepEqual(plan.detours.map((d) => d.ifName), ['rnw']);
  t.deepEqual(planDetours([], dropped, new Set(['rnx'])), { detours: [], uncovered: [X] });
  t.deepEqual(planDetours(routes, dropped, new Set(['rnq'])), { detours: [], uncovered: [] }, 'another interface leaving: nothing to do');
});

test('babel routes around once it installs a route through a non-leaving interface', (t) => {
  const leaving = new Set(['rnx']);
  t.false(babelRoutesAround([route(X, 'rnx', 96, 0, true), route(X, 'rny', 192, 96)], X, leaving));
  t.true(babelRoutesAround([route(X, 'rny', 192, 96, true)], X, leaving));
  t.false(babelRoutesAround([route(X, 'rny', 65535, 96, true)], X, leaving), 'a retracted route does not count');
});

test('ip batch lines', (t) => {
  const spec = { metric: 512, proto: 87, src: 'fd00:1:0:1::1' };
  t.is(detourAddLine({ prefix: X, via: 'fe80::1', ifName: 'rny', safe: true }, spec), `route replace ${X} via fe80::1 dev rny metric 512 proto 87 src fd00:1:0:1::1`);
  t.is(detourDelLine(X, spec), `route del ${X} metric 512 proto 87`);
});

function executor(routes: BabelRoute[], dropped = new Map<string, LastRoute>()) {
  const clock = new FakeClock(1_000_000);
  const batches: string[][] = [];
  const detours = new DetourRoutes({
    clock,
    log: pino({ level: 'silent' }),
    babel: { routes: () => routes, recentlyDropped: () => dropped },
    ownPrefix: SELF,
    nodeAddress: 'fd00:1:0:1::1',
    runBatch: async (lines) => {
      batches.push(lines);
      return { ok: true, stderr: '' };
    },
    sweepIntervalMs: 250,
    maxAgeMs: 30_000,
  });
  return { clock, batches, detours, routes };
}

test('cover installs detours once; the sweep removes each when babel routes it elsewhere', async (t) => {
  const routes = [route(X, 'rnx', 96, 0, true), route(X, 'rny', 192, 96), route(Y, 'rny', 96, 0, true)];
  const s = executor(routes);
  await s.detours.start();
  t.deepEqual(s.batches, [[`route flush proto ${DETOUR_PROTO}`]], 'old detours of a killed daemon go first');
  t.deepEqual(await s.detours.cover('rnx', 'test'), { detours: 1, uncovered: [] });
  t.deepEqual(s.batches.at(-1), [`route replace ${X} via fe80::rny dev rny metric ${DETOUR_METRIC} proto ${DETOUR_PROTO} src fd00:1:0:1::1`]);
  await s.detours.cover('rnx', 'again');
  t.is(s.batches.length, 2, 'the same detour is not installed twice');
  await s.clock.advance(250);
  t.is(s.batches.length, 2, 'babel still routes X through rnx: the detour stays');
  // babel moved X to rny (flush of rnx, then a new installed route).
  s.routes.splice(0, 2, route(X, 'rny', 192, 96, true));
  await s.clock.advance(250);
  t.deepEqual(s.batches.at(-1), [`route del ${X} metric ${DETOUR_METRIC} proto ${DETOUR_PROTO}`]);
  t.deepEqual(s.detours.list(), []);
  await s.clock.advance(5_000);
  t.is(s.clock.pendingTimers(), 0, 'no sweeping while there is nothing to sweep');
});

test('a detour stays while babel has no route of its own, and goes when its neighbour stops offering the route or it is too old', async (t) => {
  const dropped = new Map<string, LastRoute>([[X, { ifName: 'rnx', metric: 96 }]]);
  const routes = [route(X, 'rny', 192, 96)];
  const s = executor(routes, dropped);
  await s.detours.cover('rnx', 'exit');
  t.deepEqual(s.detours.list().map((d) => d.ifName), ['rny']);
  // The link comes back before babel relearned X: the detour must not go yet.
  s.detours.release('rnx');
  dropped.clear();
  await s.clock.advance(250);
  t.deepEqual(s.detours.list().map((d) => d.ifName), ['rny']);
  // Y retracts X: nothing to send there any more.
  routes[0] = { ...routes[0]!, metric: 65535 };
  await s.clock.advance(250);
  t.deepEqual(s.detours.list(), []);
  t.regex(s.batches.at(-1)![0]!, /^route del /);

  const old = executor([route(X, 'rnx', 96, 0, true), route(X, 'rny', 192, 96)]);
  await old.detours.cover('rnx', 'drain');
  await old.clock.advance(30_000);
  t.deepEqual(old.detours.list(), [], 'a detour never outlives maxAgeMs');
});

test('uncovered() asks without installing; stop removes every detour', async (t) => {
  const s = executor([route(X, 'rnx', 96, 0, true), route(Z, 'rnx', 192, 96, true), route(Z, 'rny', 288, 96)]);
  t.deepEqual(s.detours.uncovered('rnx'), [X]);
  t.is(s.batches.length, 0);
  await s.detours.cover('rnx', 'test');
  await s.detours.stop();
  t.deepEqual(s.batches.at(-1), [`route del ${Z} metric ${DETOUR_METRIC} proto ${DETOUR_PROTO}`, `route flush proto ${DETOUR_PROTO}`]);
  t.deepEqual(await s.detours.cover('rnx', 'after stop'), { detours: 0, uncovered: [] });
});
