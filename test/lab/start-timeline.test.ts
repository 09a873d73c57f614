import test from 'ava';
import { parseStartTimeline, startPhases } from '../../lab/start-timeline.js';

const t0 = Date.parse('2026-12-05T12:00:00.000Z');
const at = (sec: number): string => new Date(t0 + sec * 1000).toISOString();
const log = [
  JSON.stringify({ level: 30, time: at(0.4), msg: 'starting' }),
  'openvpn said something that is not JSON',
  JSON.stringify({ level: 30, time: at(0.9), component: 'tunnels', reasons: ['refresh: not at capacity'], msg: 'tunnel plan' }),
  JSON.stringify({ level: 30, time: at(1.1), component: 'tunnels', reasons: ['open fd00:1::/64: fill 1/4'], msg: 'tunnel plan' }),
  JSON.stringify({ level: 30, time: at(1.3), component: 'tunnels', peer: 'fd00:1::/64', msg: 'tunnel opening' }),
  JSON.stringify({ level: 30, time: at(1.5), component: 'tunnels', peer: 'fd00:2::/64', msg: 'tunnel opening' }),
  JSON.stringify({ level: 30, time: at(2.5), component: 'events', kind: 'link-established', msg: 'link with fd00:1::/64 established' }),
  JSON.stringify({ level: 30, time: at(3), component: 'events', kind: 'link-established', msg: 'link with fd00:2::/64 established' }),
  JSON.stringify({ level: 30, time: at(40), component: 'events', kind: 'link-established', msg: 'link with fd00:3::/64 established' }),
].join('\n');

test('a daemon log gives its start-up phases, relative to the start', (t) => {
  const tl = parseStartTimeline(log, t0);
  t.is(tl.firstLogMs, 400);
  t.is(tl.firstRequestMs, 1100, 'the first plan that opened something, not the first plan');
  t.is(tl.firstTunnelMs, 1300);
  t.deepEqual(tl.linksUpMs, [2500, 3000, 40_000]);
  t.deepEqual(parseStartTimeline('', t0), { firstLogMs: null, firstRequestMs: null, firstTunnelMs: null, linksUpMs: [] });
});

test('phases over nodes: medians, first and last link up to a cut-off, and when every node had a link', (t) => {
  const a = parseStartTimeline(log, t0);
  const b = { firstLogMs: 600, firstRequestMs: 1500, firstTunnelMs: 1600, linksUpMs: [2000, 3500] };
  const c = { firstLogMs: 800, firstRequestMs: null, firstTunnelMs: 2000, linksUpMs: [3200] };
  t.deepEqual(startPhases([a, b, c], 10_000), { firstLogMs: 600, firstRequestMs: 1300, firstLinkUpMs: 2000, everyNodeLinkedMs: 3200, lastLinkUpMs: 3500 });
  t.is(startPhases([a, b, { ...c, linksUpMs: [] }], 10_000).everyNodeLinkedMs, null, 'a node without a link');
  t.is(startPhases([a]).lastLinkUpMs, 40_000);
});
