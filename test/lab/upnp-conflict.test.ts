// A UPnP conflict on the tunnel ports (built CLI and daemon, `npm run build`
// first). n1 and n2 on the lab's internet; n3 behind a router with miniupnpd,
// held back until another LAN host (an extra address on n3's LAN link, nobody
// listening) has mapped the router's external ports equal to n3's tunnel ports.
// n3 then starts, takes other external ports for them (its peer-protocol port
// keeps its own), and opens one tunnel itself (client_count 1): the other
// public node comes in through the router. That tunnel comes up only if n3's
// tunnel-accept names the external port: the internal one at the router leads
// to the squatter (nobody there; with the internal port answered, this test
// times out with the peer's openvpn packets forwarded to the squatter).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import test from 'ava';
import { natConfigPatch, UPNP_HTTP_PORT } from '../../lab/nat.js';
import { joinNode } from '../../lab/orchestrate.js';
import { waitFor } from '../../lab/wait.js';
import { pickExternalPort } from '../../daemon/upnp/port-choice.js';
import { labFor } from './fixture.js';

const WAIT = { timeoutMs: 300_000, intervalMs: 2_000 };
const PEER_PORT = 1194;
const MAX_CLIENTS = 3;
const TUNNEL_PORTS = Array.from({ length: MAX_CLIENTS }, (_, i) => PEER_PORT + 1 + i);

/** Runs a command in a namespace of the lab (a held-back node is not in the lab's node list yet). */
async function inNs(netns: string, ...argv: string[]): Promise<string> {
  return (await promisify(execFile)('ip', ['netns', 'exec', netns, ...argv], { timeout: 30_000 })).stdout;
}

/** Maps each port at the router to `squatter` (an address added to the node's LAN link for the calls). */
async function squat(netns: string, squatter: string, gwLan: string): Promise<void> {
  // miniupnpd (secure_mode) maps only for the asking address: the calls leave from the squatter's.
  await inNs(netns, 'ip', 'addr', 'add', `${squatter}/24`, 'dev', 'eth0');
  await inNs(netns, 'ip', 'route', 'add', `${gwLan}/32`, 'dev', 'eth0', 'src', squatter);
  try {
    for (const port of TUNNEL_PORTS) {
      const out = await inNs(netns, 'upnpc', '-u', `http://${gwLan}:${UPNP_HTTP_PORT}/rootDesc.xml`, '-e', 'squatter', '-a', squatter, String(port), String(port), 'UDP', '3600');
      if (!/is redirected to internal/.test(out)) throw new Error(`upnpc did not map ${port}: ${out}`);
    }
  } finally {
    await inNs(netns, 'ip', 'route', 'del', `${gwLan}/32`, 'dev', 'eth0', 'src', squatter);
    await inNs(netns, 'ip', 'addr', 'del', `${squatter}/24`, 'dev', 'eth0');
  }
}

test.serial('after a conflict on its tunnel ports, a node behind UPnP answers the external port and a peer\'s tunnel to it comes up', async (t) => {
  t.timeout(15 * 60_000);
  const quick = { registry: { heartbeat_interval: 5 }, peers: { retry_base: 5 } };
  const lab = await labFor(t, 'uc', { nodes: 3, nat: 1, holdBack: 1, nodeConfigPatch: () => quick });
  const gw = lab.manifest.layout.gateways.find((g) => g.nodes.includes('n3'))!;
  const squatter = gw.lanSubnet.replace(/0\/24$/, '99');
  await squat(lab.manifest.layout.nodes.find((n) => n.name === 'n3')!.netns, squatter, gw.lan);
  t.log(`${squatter} holds UDP ${TUNNEL_PORTS.join(', ')} at ${gw.wan}`);

  // n3 opens one tunnel itself (its addresses, the mapped one included, reach the others over it);
  // the other public node has to come in through the router.
  const n3Patch = { ...natConfigPatch(lab.manifest.layout, 'n3'), ...quick, tunnels: { client_count: 1, max_clients: MAX_CLIENTS } };
  // A real host routes a private address of another network to its default gateway, where it is
  // lost (the request times out, counted against the peer, with backoff); the lab's public hosts
  // have no default route and would fail at once with ENETUNREACH (blamed on themselves, retried
  // every few seconds, which keeps a stale conntrack entry for the router's port alive).
  const lans = `${gw.lan.split('.').slice(0, 2).join('.')}.16.0/20`;
  for (const n of ['n1', 'n2']) await inNs(lab.node(n).netns, 'ip', 'route', 'add', 'blackhole', lans);
  const join = joinNode(lab, 'n3', { reachTimeoutMs: WAIT.timeoutMs, nodeConfigPatch: n3Patch });
  // n3 maps its tunnel ports elsewhere; the external ports it is given are the next candidates.
  const external = TUNNEL_PORTS.map((p) => pickExternalPort(p, new Set([p]))!);
  const status = await waitFor(async () => {
    const s = await lab.cliJson<{ underlay: { upnp: { externalIp: string; ports: number[] } | null } }>('n3', 'status').catch(() => undefined);
    return s?.underlay.upnp ? s.underlay.upnp : undefined;
  }, { ...WAIT, what: "n3's UPnP mapping verified and announced" });
  t.is(status.externalIp, gw.wan);
  t.deepEqual([...status.ports].sort((a, b) => a - b), [PEER_PORT, ...external], 'the peer port kept; the tunnel ports moved');
  t.log(`n3 announces ${status.externalIp}: ${status.ports.join(', ')}`);

  const j = await join;
  t.log(`n3 reached by all after ${(j.elapsedMs / 1000).toFixed(1)} s`);
  const n3 = lab.node('n3').prefix ?? 'n3 (not registered)';
  // The public node n3 did not dial opened its tunnel through the router, to an external port of a tunnel port.
  const dialled = await waitFor(async () => {
    for (const from of ['n1', 'n2']) {
      const tunnel = (await lab.tunnels(from)).find((x) => x.peer === n3 && x.state === 'up' && x.direction === 'outgoing');
      if (tunnel) return { from, remote: tunnel.remote ?? '' };
    }
    return undefined;
  }, { ...WAIT, what: 'a tunnel from n1 or n2 to n3 up' }).catch(async (err: unknown) => {
    // What n3 did about UPnP and tunnels, and what n1 and n2 did about n3, for the diagnosis.
    for (const node of ['n3', 'n1', 'n2']) {
      const lines = readFileSync(lab.daemon(node)!.log, 'utf8').split('\n').filter((l) => (node === 'n3' ? /upnp|reach|tunnel/i.test(l) : l.includes(n3)));
      t.log(`${node}:\n${lines.slice(-6).join('\n')}`);
    }
    const { nodes } = JSON.parse(await lab.registry('nodes', '--json')) as { nodes: { prefix: string; addresses: unknown }[] };
    t.log(`registry has n3 at ${JSON.stringify(nodes.find((n) => n.prefix === n3)?.addresses)}`);
    const { peers } = await lab.cliJson<{ peers: { prefix: string; addresses: string[] }[] }>('n2', 'peers');
    t.log(`n2 has n3 at ${JSON.stringify(peers.find((p) => p.prefix === n3))}`);
    const ct = (await inNs(gw.netns, 'cat', '/proc/net/nf_conntrack')).split('\n').filter((l) => l.includes(' udp ') && l.includes(gw.wan));
    t.log(`gw1 conntrack:\n${ct.join('\n')}`);
    throw err;
  });
  t.log(`${dialled.from} → n3 at ${dialled.remote}`);
  const at = dialled.remote.lastIndexOf(':');
  t.is(dialled.remote.slice(0, at), gw.wan, "the router's address");
  t.true(external.includes(Number(dialled.remote.slice(at + 1))), `${dialled.remote}: an external port of a tunnel port (${external.join(', ')})`);
});
