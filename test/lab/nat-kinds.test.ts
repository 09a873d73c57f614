// The two kinds of lab router as planned (pure): which masquerade each NAT
// router gets, the default, and a bad kind refused.
import test from 'ava';
import { labLayout } from '../../lab/layout.js';
import { planTopology } from '../../lab/topology.js';

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
