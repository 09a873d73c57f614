import test from 'ava';
import { labLayout, labNamespaces } from '../../lab/layout.js';
import { gatewayRuleset, miniupnpdConfig } from '../../lab/nat.js';
import { planNamespaceRemoval, planTopology, renderSteps } from '../../lab/topology.js';

test('names: every namespace carries the lab id, hosts are n1…nN and gw1…gwK', (t) => {
  const l = labLayout({ id: 'ab12', nodes: 6, nat: 2 });
  t.deepEqual(labNamespaces(l), [
    'rnab12-inet', 'rnab12-reg', 'rnab12-gw1', 'rnab12-gw2',
    'rnab12-n1', 'rnab12-n2', 'rnab12-n3', 'rnab12-n4', 'rnab12-n5', 'rnab12-n6',
  ]);
  t.deepEqual(l.nodes.filter((n) => n.gateway).map((n) => [n.name, n.gateway]), [['n5', 'gw1'], ['n6', 'gw2']]);
});

test('addresses are private, distinct, and the overlay is a ULA /48', (t) => {
  const l = labLayout({ id: 'x', nodes: 64, nat: 8 });
  const all = [l.registry.underlay, ...l.nodes.map((n) => n.underlay), ...l.gateways.flatMap((g) => [g.wan, g.lan]), l.inet.bridgeAddress, l.inet.stunAlternate];
  t.is(new Set(all).size, all.length);
  for (const a of all) t.regex(a, /^10\.\d+\.\d+\.\d+$/);
  t.regex(l.overlayPrefix, /^fd[0-9a-f]{2}:[0-9a-f]{4}:[0-9a-f]{2}00::\/48$/);
});

test('two lab ids give different namespaces and usually different underlays', (t) => {
  const a = labLayout({ id: 'one', nodes: 3, nat: 1 });
  const b = labLayout({ id: 'two', nodes: 3, nat: 1 });
  t.false(labNamespaces(a).some((n) => labNamespaces(b).includes(n)));
  t.not(a.overlayPrefix, b.overlayPrefix);
});

test('bad names and counts are refused with a code', (t) => {
  for (const id of ['', 'UPPER', 'has-dash', 'waytoolongname1']) {
    t.is((t.throws(() => labLayout({ id, nodes: 3, nat: 0 })) as { code?: string } | undefined)?.code, 'RN_LAB_BAD_NAME', id);
  }
  t.throws(() => labLayout({ id: 'a', nodes: 1, nat: 0 }));
  t.throws(() => labLayout({ id: 'a', nodes: 3, nat: 3 }), undefined, 'at least one public node');
});

test('topology plan: interface names fit in 15 chars, no default route, everything inside rn<ID>- namespaces', (t) => {
  const l = labLayout({ id: 'abcdefghij', nodes: 12, nat: 3 });
  const steps = planTopology(l);
  const text = renderSteps(steps);
  t.false(/\bdefault\b/.test(text), 'no default routes');
  for (const s of steps) {
    const a = s.argv;
    t.is(a[0], 'ip');
    if (a[1] === 'netns' && (a[2] === 'add' || a[2] === 'exec')) t.true(a[3]!.startsWith('rnabcdefghij-'), a.join(' '));
    else if (a[1] === 'link' && a[2] === 'add') {
      // veth pairs are created directly inside the lab's namespaces, never in the host's
      t.is(a[4], 'netns');
      t.true(a[5]!.startsWith('rnabcdefghij-'));
      t.true(a[10]!.length <= 15 && a[3]!.length <= 15);
      t.is(a[11], 'netns');
      t.true(a[12]!.startsWith('rnabcdefghij-'));
    } else {
      t.is(a[1], '-n', a.join(' '));
      t.true(a[2]!.startsWith('rnabcdefghij-'), a.join(' '));
    }
  }
  t.deepEqual(planNamespaceRemoval(['a', 'b']).map((s) => s.argv.join(' ')), ['ip netns del b', 'ip netns del a']);
});

test('the NAT router: masquerade only its LAN, the chains miniupnpd needs, STUN at the internet bridge', (t) => {
  const l = labLayout({ id: 'nat', nodes: 3, nat: 1 });
  const gw = l.gateways[0]!;
  const rules = gatewayRuleset(gw);
  t.true(rules.includes(`oifname "wan0" ip saddr ${gw.lanSubnet} masquerade`));
  for (const chain of ['miniupnpd', 'prerouting_miniupnpd', 'postrouting_miniupnpd']) t.true(rules.includes(`chain ${chain} { }`));
  const conf = miniupnpdConfig(l, gw, '/x/leases');
  t.true(conf.includes(`ext_stun_host=${l.inet.bridgeAddress}`));
  t.true(conf.includes(`allow 1024-65535 ${gw.lanSubnet} 1024-65535`));
  t.true(conf.includes('ext_perform_stun=yes'));
});

test('the benchmark sizes 8 and 64 (2 behind NAT) fit the address plan and the 15-character interface names', (t) => {
  for (const nodes of [8, 64]) {
    const l = labLayout({ id: 'abcdefghij', nodes, nat: 2 });
    t.is(l.nodes.length, nodes);
    const ifNames = planTopology(l).flatMap((s) => s.argv.filter((_, i) => s.argv[i - 1] === 'add' && s.argv[i + 1] === 'netns' || s.argv[i - 1] === 'name'));
    t.true(ifNames.length >= nodes, `${ifNames.length} interface names`);
    for (const name of ifNames) t.true(name.length <= 15, name);
    const addrs = [...l.nodes.map((n) => n.underlay), ...l.gateways.flatMap((g) => [g.wan, g.lan])];
    t.is(new Set(addrs).size, addrs.length);
  }
});
