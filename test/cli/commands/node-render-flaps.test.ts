// Link flaps in `resilnet tunnels` (a FLAPS column) and `resilnet status` (lost and flapped links).
import test from 'ava';
import { renderStatus, renderTunnels } from '../../../cli/commands/node-render.js';
import { NOW_MS, sampleStatus, sampleTunnels } from '../../daemon/control/fake-backend.js';

test('renderTunnels: a FLAPS column when the daemon reports flaps; - for a tunnel not watched yet', (t) => {
  const tunnels = [{ ...sampleTunnels[0]!, flaps: 3 }, { ...sampleTunnels[0]!, peer: 'fd5e:1:2:9::/64', state: 'connecting' as const, protected: false }];
  t.is(
    renderTunnels({ tunnels }),
    [
      'PEER             DIR  INTERFACE       STATE       AGE   RX       TX        ROUTES  SCORE  FLAPS',
      'fd5e:1:2:8::/64  out  rn1a2b3c4d5e6f  up*         65 s  120 B/s  2.5 kB/s  2       0.75   3',
      'fd5e:1:2:9::/64  out  rn1a2b3c4d5e6f  connecting  65 s  120 B/s  2.5 kB/s  2       0.75   -',
      '',
    ].join('\n'),
  );
  // An older daemon that does not report flaps: no column.
  t.false(renderTunnels({ tunnels: sampleTunnels }).includes('FLAPS'));
});

test('renderStatus: lost links with their flaps, and links that flapped', (t) => {
  const links = [
    { peer: 'fd5e:1:2:8::/64', interface: 'rn8', state: 'lost' as const, lastHelloMs: NOW_MS - 4_000, lostSinceMs: NOW_MS - 3_000, flaps: 2 },
    { peer: 'fd5e:1:2:9::/64', interface: 'rn9', state: 'alive' as const, lastHelloMs: NOW_MS, lostSinceMs: null, flaps: 5 },
    { peer: 'fd5e:1:2:a::/64', interface: 'rna', state: 'alive' as const, lastHelloMs: NOW_MS, lostSinceMs: null, flaps: 0 },
  ];
  const lines = renderStatus({ ...sampleStatus, links }, NOW_MS).split('\n').filter((l) => l.startsWith('links'));
  t.deepEqual(lines, ['links        lost: fd5e:1:2:8::/64 (3.0 s ago, flaps: 2)', 'links        flapped: fd5e:1:2:9::/64 (5)']);
  t.deepEqual(renderStatus(sampleStatus, NOW_MS).split('\n').filter((l) => l.startsWith('links')), []);
});

test('renderStatus: links whose hellos are slowed because an end runs late, with the range', (t) => {
  const link = (peer: string, helloEveryMs: number | null, helloSlowed: boolean) =>
    ({ peer, interface: 'rn', state: 'alive' as const, lastHelloMs: NOW_MS, lostSinceMs: null, flaps: 0, helloEveryMs, helloSlowed });
  const linkLines = (links: ReturnType<typeof link>[]) => renderStatus({ ...sampleStatus, links }, NOW_MS).split('\n').filter((l) => l.startsWith('links'));
  t.deepEqual(linkLines([link('a', 1_237, true), link('b', 250, false), link('c', 800, true)]), [
    'links        hellos slowed on 2 of 3 links, to one every 0.80-1.24 s (this host or those peers run late)',
  ]);
  t.deepEqual(linkLines([link('a', 500, true), link('b', 250, false)]), ['links        hellos slowed on 1 of 2 links, to one every 0.50 s (this host or those peers run late)']);
  t.deepEqual(linkLines([link('a', 250, false), link('b', null, false)]), []);
});
