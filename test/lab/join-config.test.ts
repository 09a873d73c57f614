// A node held back at `up` and joined later (LabHandle.join) gets the same
// resilnet.toml additions as the nodes started at `up`: the lab's own (a node
// behind a NAT router probes the lab's stund) and the caller's nodeConfigPatch,
// then what join itself is given, merged table by table. Without them a late node behind a
// router never learns its NAT class, and a test's settings silently miss it.
import { readFileSync } from 'node:fs';
import test from 'ava';
import { parse as parseToml } from 'smol-toml';
import { STUN_PORT } from '../../lab/layout.js';
import { labFor } from './fixture.js';

test.serial('a joining node gets the lab\'s NAT settings, the caller\'s patch, and join\'s own patch on top', async (t) => {
  t.timeout(10 * 60_000);
  const lab = await labFor(t, 'jc', {
    nodes: 3, nat: 1, holdBack: 1,
    nodeConfigPatch: (node) => ({ tunnels: { client_count: 1 }, babel: { hello_interval: node === 'n3' ? 2 : 1 } }),
  });
  await lab.join('n3', { timeoutMs: 300_000, nodeConfigPatch: { tunnels: { max_clients: 5 } } });
  const conf = parseToml(readFileSync(lab.node('n3').config, 'utf8')) as Record<string, Record<string, unknown>>;
  t.deepEqual(conf.nat?.stun, [`${lab.manifest.layout.inet.bridgeAddress}:${STUN_PORT}`], "the lab's stund, as n3 sits behind gw1");
  t.is(conf.babel?.hello_interval, 2, "the caller's patch, for this node");
  t.is(conf.tunnels?.max_clients, 5, "join's own patch");
  t.is(conf.tunnels?.client_count, 1, "the caller's value in the same table stays");
});
