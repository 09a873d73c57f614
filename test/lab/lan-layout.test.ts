import test from 'ava';
import { labNodeConfigPatch } from '../../lab/lab.js';
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

test('--nat 2 --nat-lan: both NATed nodes behind one router gw1, on one bridge in rnID-natlan, LAN discovery on eth0', (t) => {
  const layout = labLayout({ id: 'lx', nodes: 3, nat: 2, natLan: true, upnp: false });
  t.deepEqual(layout.gateways.map((g) => [g.name, g.nodes]), [['gw1', ['n2', 'n3']]]);
  const gw = layout.gateways[0]!;
  t.deepEqual(layout.nodes.map((n) => n.gateway ?? null), [null, 'gw1', 'gw1']);
  const natLan = layout.natLan!;
  t.is(natLan.netns, 'rnlx-natlan');
  t.is(natLan.subnet, gw.lanSubnet);
  t.is(natLan.ifName, 'eth0');
  t.deepEqual(natLan.router, { name: 'gw1', netns: 'rnlx-gw1', address: gw.lan });
  // Each node has a private address of its own on the router's LAN.
  const [n2, n3] = natLan.members;
  t.deepEqual([n2?.node, n3?.node], ['n2', 'n3']);
  t.is(n2?.address, gw.lan.replace(/\.1$/, '.2'));
  t.is(n3?.address, gw.lan.replace(/\.1$/, '.3'));
  t.deepEqual(natLan.members.map((m) => m.address), [layout.nodes[1]!.underlay, layout.nodes[2]!.underlay]);
  t.true(labNamespaces(layout).includes('rnlx-natlan'));
  t.false(labNamespaces(layout).includes('rnlx-gw2'));

  const plan = planTopology(layout).map((s) => s.argv.join(' '));
  for (const step of planLanSegment(natLan)) t.true(plan.includes(step.join(' ')), step.join(' '));
  // The router's lan0 and both nodes' eth0 are ports of the one bridge; no point-to-point link to the router.
  t.true(plan.includes('ip link add lan0 netns rnlx-gw1 type veth peer name l-gw1 netns rnlx-natlan'));
  t.true(plan.includes('ip link add eth0 netns rnlx-n2 type veth peer name l-n2 netns rnlx-natlan'));
  t.true(plan.includes('ip link add eth0 netns rnlx-n3 type veth peer name l-n3 netns rnlx-natlan'));
  t.false(plan.some((s) => s.startsWith('ip link add lan0 netns rnlx-gw1 type veth peer name eth0')));
  for (const n of ['n2', 'n3']) t.true(plan.includes(`ip -n rnlx-${n} route add ${layout.inet.subnet} via ${gw.lan}`), n);
  // The bridge and the ports exist before the addresses and routes that use them.
  t.true(plan.indexOf('ip -n rnlx-natlan link add br1 type bridge mcast_snooping 0') < plan.indexOf(`ip -n rnlx-n2 route add ${layout.inet.subnet} via ${gw.lan}`));
  // One ruleset: the router masquerades its whole LAN.
  const nft = planTopology(layout).filter((s) => s.stdin !== undefined);
  t.is(nft.length, 1);
  t.true(nft[0]!.stdin!.includes(`ip saddr ${gw.lanSubnet} masquerade persistent`));

  t.deepEqual(lanConfigPatch(natLan, 'n2'), { lan: { interfaces: ['eth0'], interval: 10 } });
  t.deepEqual(lanConfigPatch(natLan, 'n1'), {});
  const patch = labNodeConfigPatch(layout, (n): Record<string, Record<string, unknown>> => (n === 'n3' ? { tunnels: { client_count: 2 } } : {}))!;
  t.deepEqual(patch('n3'), { nat: { stun: [`${layout.inet.bridgeAddress}:3478`] }, lan: { interfaces: ['eth0'], interval: 10 }, tunnels: { client_count: 2 } });
  t.deepEqual(patch('n1'), {});
});

test('--nat-lan needs two NATed nodes; --upnp-drop counts its one router', (t) => {
  t.throws(() => labLayout({ id: 'lx', nodes: 3, nat: 1, natLan: true }), { message: /--nat-lan .*use --nat 2 or more/ });
  t.is(labLayout({ id: 'lx', nodes: 4, nat: 3, natLan: true, upnpDrop: 1 }).gateways[0]!.dropsMapped, true);
  t.throws(() => labLayout({ id: 'lx', nodes: 4, nat: 3, natLan: true, upnpDrop: 2 }), { message: /invalid --upnp-drop 2 \(use 0-1/ });
  // Without --nat-lan every NATed node keeps a router of its own.
  t.deepEqual(labLayout({ id: 'lx', nodes: 4, nat: 2 }).gateways.map((g) => g.nodes), [['n3'], ['n4']]);
  t.is(labLayout({ id: 'lx', nodes: 4, nat: 2 }).natLan, undefined);
});
