// `--upnp-drop K` as planned (pure): the last K NAT routers drop new WAN traffic
// before their UPnP forwards (miniupnpd still grants mappings); the others do not.
import test from 'ava';
import { labLayout } from '../../lab/layout.js';
import { planTopology } from '../../lab/topology.js';

const DROP = /iifname "lan0" accept;\n\s*iifname "wan0" drop;\n\s*jump miniupnpd;/;

test('the last K routers drop what arrives on their mappings; the others forward it', (t) => {
  const layout = labLayout({ id: 'ud', nodes: 5, nat: 3, upnpDrop: 1 });
  t.deepEqual(layout.gateways.map((g) => g.dropsMapped === true), [false, false, true]);
  const rulesets = planTopology(layout).filter((s) => s.argv.includes('nft')).map((s) => s.stdin ?? '');
  t.is(rulesets.length, 3);
  t.deepEqual(rulesets.map((r) => DROP.test(r)), [false, false, true]);
  // Without the option, no router drops.
  for (const r of planTopology(labLayout({ id: 'ud', nodes: 3, nat: 2 })).filter((s) => s.argv.includes('nft'))) t.notRegex(r.stdin ?? '', /iifname "wan0" drop;\n\s*jump miniupnpd/);
});

test('--upnp-drop beyond the NAT routers, or without UPnP, is refused', (t) => {
  t.throws(() => labLayout({ id: 'ud', nodes: 3, nat: 1, upnpDrop: 2 }), { message: /invalid --upnp-drop 2 \(use 0-1/ });
  t.throws(() => labLayout({ id: 'ud', nodes: 3, nat: 1, upnpDrop: 1, upnp: false }), { message: /not with --no-upnp/ });
});
