import test from 'ava';
import { labLayout } from '../../lab/layout.js';
import { bridgeAddress, describePartition, faultTable, halves, planPartition } from '../../lab/partition.js';

const layout = labLayout({ id: 'p1', nodes: 5, nat: 1 });

test('a cut drops both directions between the two nodes on the bridge; a node behind NAT is seen as its router', (t) => {
  t.is(bridgeAddress(layout, 'n5'), layout.gateways[0]!.wan);
  const plan = planPartition(layout, { kind: 'cut', a: 'n1', b: 'n5' }, faultTable('p1', 3));
  t.is(plan.table, 'rnfault_p1_3');
  t.is(plan.netns, 'rnp1-inet');
  t.deepEqual(plan.apply.argv, ['ip', 'netns', 'exec', 'rnp1-inet', 'nft', '-f', '-']);
  const n1 = layout.nodes[0]!.underlay;
  const gw = layout.gateways[0]!.wan;
  t.true(plan.apply.stdin!.includes('table bridge rnfault_p1_3 {'));
  t.true(plan.apply.stdin!.includes(`ip saddr { ${n1} } ip daddr { ${gw} } drop`));
  t.true(plan.apply.stdin!.includes(`ip saddr { ${gw} } ip daddr { ${n1} } drop`));
  t.deepEqual(plan.heal.argv, ['ip', 'netns', 'exec', 'rnp1-inet', 'nft', 'delete', 'table', 'bridge', 'rnfault_p1_3']);
});

test('an isolated node drops everything but loopback, in and out, inside its own namespace', (t) => {
  const plan = planPartition(layout, { kind: 'isolate', node: 'n2' }, 'rnfault_p1_1');
  t.is(plan.netns, 'rnp1-n2');
  t.regex(plan.apply.stdin!, /hook input priority -300; policy accept;\n\s+iifname != "lo" drop/);
  t.regex(plan.apply.stdin!, /hook output priority -300; policy accept;\n\s+oifname != "lo" drop/);
  t.deepEqual(plan.heal.argv.slice(-4), ['delete', 'table', 'inet', 'rnfault_p1_1']);
});

test('a split drops every packet between the halves and none inside them', (t) => {
  const h = halves(layout.nodes.map((n) => n.name));
  t.deepEqual(h, { left: ['n1', 'n2', 'n3'], right: ['n4', 'n5'] });
  const plan = planPartition(layout, { kind: 'split', ...h }, 'rnfault_p1_2');
  const left = ['n1', 'n2', 'n3'].map((n) => bridgeAddress(layout, n)).join(', ');
  const right = ['n4', 'n5'].map((n) => bridgeAddress(layout, n)).join(', ');
  t.true(plan.apply.stdin!.includes(`ip saddr { ${left} } ip daddr { ${right} } drop`));
  t.true(plan.apply.stdin!.includes(`ip saddr { ${right} } ip daddr { ${left} } drop`));
  t.is(describePartition({ kind: 'split', ...h }), 'split n1,n2,n3 | n4,n5');
});

test('a partition naming an unknown node, an empty side or a node on both sides is refused', (t) => {
  t.throws(() => planPartition(layout, { kind: 'isolate', node: 'n9' }, 'x'), { message: /has no node n9/ });
  t.throws(() => planPartition(layout, { kind: 'split', left: [], right: ['n1'] }, 'x'), { message: /both sides need/ });
  t.throws(() => planPartition(layout, { kind: 'split', left: ['n1', 'n2'], right: ['n2'] }, 'x'), { message: /n2 on both sides/ });
});
