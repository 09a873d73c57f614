import test from 'ava';
import { lanConfigPatch, planLanSegment } from '../../lab/lan.js';
import { labLayout, labNamespaces } from '../../lab/layout.js';
import { planTopology } from '../../lab/topology.js';

test('--lan 2: the first two public nodes share a bridge in their own namespace, on eth1', (t) => {
  const layout = labLayout({ id: 'lx', nodes: 4, nat: 1, lan: 2 });
  const lan = layout.lan!;
  t.is(lan.netns, 'rnlx-lan');
  t.deepEqual(lan.members.map((m) => m.node), ['n1', 'n2']);
  t.regex(lan.members[0]!.address, /^10\.\d+\.250\.1$/);
  t.true(labNamespaces(layout).includes('rnlx-lan'));
  const plan = planTopology(layout).map((s) => s.argv.join(' '));
  for (const step of planLanSegment(lan)) t.true(plan.includes(step.join(' ')), step.join(' '));
  t.true(plan.includes(`ip link add eth1 netns rnlx-n2 type veth peer name l-n2 netns rnlx-lan`));
  t.deepEqual(lanConfigPatch(lan, 'n1'), { lan: { interfaces: ['eth1'], interval: 10 } });
  t.deepEqual(lanConfigPatch(lan, 'n3'), {});
});

test('no --lan, no segment; a LAN larger than the public nodes is refused', (t) => {
  t.is(labLayout({ id: 'lx', nodes: 3, nat: 1 }).lan, undefined);
  t.false(labNamespaces(labLayout({ id: 'lx', nodes: 3, nat: 1 })).includes('rnlx-lan'));
  t.throws(() => labLayout({ id: 'lx', nodes: 3, nat: 1, lan: 3 }), { message: /invalid LAN count: 3 \(use 0, or 2-2/ });
  t.throws(() => labLayout({ id: 'lx', nodes: 3, nat: 0, lan: 1 }), { message: /invalid LAN count: 1/ });
});
