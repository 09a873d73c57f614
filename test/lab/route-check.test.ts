// The lab's route pre-check: which pairs are worth a ping.
import test from 'ava';
import { routeCovers, splitByRoutes, usableRoutes } from '../../lab/route-check.js';

const TABLE = [
  'fd7c:1474:c00::/64 dev lo proto kernel metric 256 pref medium',
  'fd7c:1474:c00:1::/64 via fe80::1 dev rn1 proto babel metric 1024 pref medium',
  'fd7c:1474:c00:2::/64 proto babel metric 1024 pref medium',
  '\tnexthop via fe80::2 dev rn2 weight 1',
  'unreachable fd7c:1474:c00::/48 dev lo metric 1024 pref medium',
  'fd7c:1474:c00:9::1 via fe80::9 dev rn9 proto 87 metric 512 pref medium',
  'fe80::/64 dev rn1 proto kernel metric 256 pref medium',
].join('\n');

test('usable routes: destinations of ordinary routes, host routes as /128; dead ends and continuation lines are not routes', (t) => {
  const routes = usableRoutes(TABLE);
  t.true(routeCovers(routes, 'fd7c:1474:c00:1::1'));
  t.true(routeCovers(routes, 'fd7c:1474:c00:2::1'), 'multipath route');
  t.true(routeCovers(routes, 'fd7c:1474:c00:9::1'), 'host route (a detour)');
  t.false(routeCovers(routes, 'fd7c:1474:c00:3::1'), 'only the unreachable /48 covers it');
  t.false(routeCovers(routes, 'fd7c:1474:c00:9::2'));
  t.true(routeCovers(usableRoutes('default via fe80::1 dev eth0 metric 1024'), 'fd00::1'));
  t.deepEqual(usableRoutes(''), []);
});

test('pairs are pinged only with a route both ways; a node whose table was not read is pinged as before', (t) => {
  const nodes = ['a', 'b', 'c', 'd'].map((name, i) => ({ name, netns: `ns-${name}`, overlay: `fd00:0:0:${i + 1}::1` }));
  const r = (...n: number[]) => usableRoutes(n.map((i) => `fd00:0:0:${i}::/64 dev rn proto babel`).join('\n'));
  const tables = new Map([
    ['a', r(2, 3)],
    ['b', r(1)],
    ['c', r(2)], // no route back to a
  ]);
  const pairs: Array<[string, string]> = [['a', 'b'], ['a', 'c'], ['b', 'c'], ['a', 'd'], ['d', 'a']];
  const { ping, unrouted } = splitByRoutes(pairs, nodes, tables);
  t.deepEqual(ping, [['a', 'b']]);
  t.deepEqual(unrouted, [['a', 'c'], ['b', 'c'], ['a', 'd'], ['d', 'a']]);
  // d's table unknown: a -> d needs a's route to d (missing); with it, the pair is pinged.
  const withD = new Map([...tables, ['a', r(2, 3, 4)]]);
  t.deepEqual(splitByRoutes([['a', 'd'], ['d', 'a']], nodes, withD).ping, [['a', 'd'], ['d', 'a']]);
});
