// UPnP mappings are announced only once a peer's probe reached them (built CLI
// and daemon, `npm run build` first). n1 and n2 on the lab's internet; n3 behind
// a router with miniupnpd; n4 behind a router with miniupnpd whose firewall drops
// what arrives on the mappings (`--upnp-drop 1`). n3's mapping is verified by a
// peer and announced (event line, status, what n1 knows of n3); n4's is granted by
// its router but never announced: n4's status shows no UPnP address, its NAT class
// is not upnp and the evidence says why, the health warning is raised, and n1
// never learns the mapped endpoint.
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import test from 'ava';
import type { LabHandle } from '../../lab/handle.js';
import { waitFor } from '../../lab/wait.js';
import { labFor } from './fixture.js';

const WAIT = { timeoutMs: 300_000, intervalMs: 2_000 };

interface Status {
  underlay: { upnp: { externalIp: string; ports: number[] } | null; addresses: { address: string; kind: string }[] };
  nat: { natClass: string; evidence: string[] } | null;
  health: { code: string; text: string; sinceMs: number }[];
}

/** When the daemon logged its first line with this message (pino JSON). */
function firstLogMs(lab: LabHandle, node: string, msg: string): number | undefined {
  const line = readFileSync(lab.daemon(node)!.log, 'utf8').split('\n').find((l) => l.includes(`"msg":"${msg}"`));
  if (line === undefined) return undefined;
  const time = (JSON.parse(line) as { time: number | string }).time;
  return typeof time === 'string' ? Date.parse(time) : time;
}

interface RegistryNode {
  prefix: string;
  last_seen: string | null;
  addresses: { address: string; kind: string }[];
  nat_class: string | null;
}

/** The node as the registry has it from its last heartbeat. */
async function registryView(lab: LabHandle, node: string): Promise<RegistryNode | undefined> {
  const { nodes } = JSON.parse(await lab.registry('nodes', '--json')) as { nodes: RegistryNode[] };
  return nodes.find((n) => n.prefix === lab.node(node).prefix);
}

async function addressesOf(lab: LabHandle, from: string, node: string): Promise<string[]> {
  const { peers } = await lab.cliJson<{ peers: { prefix: string; addresses: string[] }[] }>(from, 'peers');
  return peers.find((p) => p.prefix === lab.node(node).prefix)?.addresses ?? [];
}

test.serial('a mapping a peer can reach is verified and announced; one the router drops is not, and says why', async (t) => {
  const lab = await labFor(t, 'ur', { nodes: 4, nat: 2, upnpDrop: 1 });
  const gw = (node: string) => lab.manifest.layout.gateways.find((g) => g.nodes.includes(node))!;
  t.false(gw('n3').dropsMapped === true);
  t.true(gw('n4').dropsMapped);
  const reachable = `${gw('n3').wan}:1194`;
  const dropped = `${gw('n4').wan}:1194`;

  // n3: verified by a peer, then announced.
  const verified = await waitFor(async () => (await lab.events('n3')).find((e) => String(e.text).startsWith(`UPnP mapping ${reachable} verified by `)), { ...WAIT, what: "n3's mapping verified" });
  t.log(`n3: ${String(verified.text)}`);
  const by = /verified by (\S+) /.exec(String(verified.text))![1]!;
  t.true(lab.manifest.nodes.some((n) => n.prefix === by && n.name !== 'n3'), `verified by another node of the lab (${by})`);
  const s3 = await waitFor(async () => {
    const s = await lab.cliJson<Status>('n3', 'status');
    return s.underlay.upnp && s.nat?.natClass === 'upnp' ? s : undefined;
  }, { ...WAIT, what: 'n3 announces its UPnP address and counts as upnp' });
  t.is(s3.underlay.upnp!.externalIp, gw('n3').wan);
  t.deepEqual(s3.underlay.addresses[0], { address: reachable, kind: 'upnp' });
  t.false(s3.health.some((h) => h.code === 'RN_UPNP_UNREACHABLE'));
  t.true(s3.nat!.evidence.includes(`a probe from ${by} reached the UPnP mapping ${reachable}: verified and announced`), JSON.stringify(s3.nat!.evidence));
  await waitFor(async () => ((await addressesOf(lab, 'n1', 'n3')).includes(reachable) ? true : undefined), { ...WAIT, what: 'n1 knows n3 at its mapped endpoint' });
  await waitFor(async () => {
    const r = await registryView(lab, 'n3');
    return r?.nat_class === 'upnp' && r.addresses.some((a) => a.address === reachable && a.kind === 'upnp') ? true : undefined;
  }, { ...WAIT, what: 'the registry has n3 at its mapped endpoint (kind upnp)' });
  const mappedMs = firstLogMs(lab, 'n3', 'upnp external address');
  t.truthy(mappedMs, 'n3 logged its mapping');
  t.log(`n3: mapping → verified ${Number(verified.atMs) - mappedMs!} ms (load average ${loadavg().map((x) => x.toFixed(2)).join(' ')})`);

  // n4: the router granted the mapping, probes never arrived: a warning, nothing announced.
  const warning = await waitFor(async () => {
    const s = await lab.cliJson<Status>('n4', 'status');
    const h = s.health.find((x) => x.code === 'RN_UPNP_UNREACHABLE');
    return h ? { s, h } : undefined;
  }, { ...WAIT, what: "n4's mapping reported unreachable" });
  t.log(`n4: ${warning.h.text}`);
  const n4MappedMs = firstLogMs(lab, 'n4', 'upnp external address');
  t.truthy(n4MappedMs, 'the router did grant n4 a mapping');
  t.log(`n4: mapping → unreachable ${((warning.h.sinceMs - n4MappedMs!) / 1000).toFixed(1)} s`);
  t.regex(warning.h.text, new RegExp(`maps ${dropped.replaceAll('.', '\\.')} to this node, but probes sent there never arrived \\(.*sent a probe, nothing arrived`));
  t.regex(warning.h.text, /the router maps the port but drops what arrives\. Forward it by hand or check the router's firewall/);
  const s4 = warning.s;
  t.is(s4.underlay.upnp, null);
  t.false(s4.underlay.addresses.some((a) => a.kind === 'upnp'), JSON.stringify(s4.underlay.addresses));
  t.not(s4.nat?.natClass, 'upnp');
  t.true(s4.nat!.evidence.some((e) => e.startsWith(`the UPnP gateway maps ${dropped} but probes sent there never arrived`)), JSON.stringify(s4.nat!.evidence));
  t.true((await lab.events('n4')).some((e) => String(e.text).startsWith(`UPnP mapping ${dropped} unreachable: `)));
  t.false((await lab.events('n4')).some((e) => /UPnP mapping .* verified by/.test(String(e.text))));
  // What the registry has of n4 from a heartbeat sent after the mapping was granted: no UPnP address, not upnp.
  // (Peers that took a tunnel request from n4 know its router's address as the request's source anyway.)
  const r4 = await waitFor(async () => {
    const r = await registryView(lab, 'n4');
    return r?.last_seen && Date.parse(r.last_seen) > n4MappedMs! + 1_000 ? r : undefined;
  }, { ...WAIT, what: 'a heartbeat of n4 after its mapping' });
  t.false(r4.addresses.some((a) => a.kind === 'upnp'), JSON.stringify(r4.addresses));
  t.not(r4.nat_class, 'upnp');
});
