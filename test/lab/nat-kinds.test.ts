// The two kinds of lab router as planned (pure): which masquerade each NAT
// router gets, the default, and a bad kind refused.
import test from 'ava';
import { labLayout } from '../../lab/layout.js';
import { planTopology } from '../../lab/topology.js';
import { natConfigPatch } from '../../lab/nat.js';

const rulesets = (natKind?: 'eim' | 'apdm'): string[] =>
  planTopology(labLayout({ id: 'nk', nodes: 4, nat: 2, ...(natKind ? { natKind } : {}) }))
    .filter((s) => s.argv.includes('nft'))
    .map((s) => s.stdin ?? '');

test('eim routers masquerade persistent (the default), apdm routers fully-random', (t) => {
  for (const [kind, flag] of [[undefined, 'persistent'], ['eim', 'persistent'], ['apdm', 'fully-random']] as const) {
    const r = rulesets(kind);
    t.is(r.length, 2, 'one ruleset per router');
    for (const text of r) t.regex(text, new RegExp(`ip saddr 10\\.\\d+\\.\\d+\\.0/24 masquerade ${flag};`), String(kind));
  }
});

test('an unknown NAT kind is refused with the choices', (t) => {
  const err = t.throws(() => labLayout({ id: 'nk', nodes: 3, nat: 1, natKind: 'cone' as 'eim' }));
  t.regex(err?.message ?? '', /use eim or apdm/);
});

test('routers without UPnP drop unsolicited WAN packets to themselves; with UPnP they do not', (t) => {
  const rules = (upnp: boolean): string[] =>
    planTopology(labLayout({ id: 'nk', nodes: 3, nat: 2, upnp }))
      .filter((s) => s.argv.includes('nft'))
      .map((s) => s.stdin ?? '');
  for (const text of rules(false)) t.regex(text, /type filter hook input priority 0;[\s\S]*iifname "wan0" ct state established,related accept;[\s\S]*iifname "wan0" drop;/);
  for (const text of rules(true)) t.notRegex(text, /hook input/);
});

test('nodes behind a router get the lab stund in [nat] stun; public nodes nothing', (t) => {
  const layout = labLayout({ id: 'nk', nodes: 3, nat: 2 });
  t.deepEqual(natConfigPatch(layout, 'n1'), {});
  t.deepEqual(natConfigPatch(layout, 'n3'), { nat: { stun: [`${layout.inet.bridgeAddress}:3478`] } });
});
