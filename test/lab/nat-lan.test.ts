// Two nodes on one LAN behind one NAT router (issue 11; `lab up --nat 2
// --nat-lan --no-upnp`, built CLI and daemon: `npm run build` first): n1 on the
// lab's internet, n2 and n3 behind the shared endpoint-independent router gw1
// without UPnP, each with a private address on its LAN and LAN discovery there.
// They find each other on the LAN and open their tunnel over their LAN
// addresses (not punched through the router, which does not hairpin), and both
// still reach n1. Then, with the registry stopped, n3 restarts with an empty
// peer DB: it knows nobody and can ask no registry, finds n2 on the LAN again,
// tunnels to it over the LAN, learns n1 from n2's announcement, and every pair
// reaches again.
import { rmSync } from 'node:fs';
import test from 'ava';
import type { LanStatus } from '../../daemon/lan/discovery.js';
import { inCidr } from '../../daemon/addresses/addresses.js';
import type { LabHandle, TunnelInfo } from '../../lab/handle.js';
import { peerDbPath } from '../../lab/peer-db.js';
import { waitFor } from '../../lab/wait.js';
import { labFor } from './fixture.js';

const WAIT = { timeoutMs: 300_000, intervalMs: 2_000 };
/** Each node keeps up to 2 outgoing tunnels: n1, and the other node on the LAN. */
const patch = (): Record<string, Record<string, unknown>> => ({ tunnels: { client_count: 2 } });
// A NATed node that became the server end of n1's tunnel at start holds that pair up to a
// minute (the start-up race test/lab/hole-punch.test.ts describes); not what this file tests.
const FORMING_MS = 180_000;

/** The n2–n3 tunnel once both ends list it up: the client end's view of it, and which node that is. */
async function lanTunnel(lab: LabHandle): Promise<{ client: string; server: string; t: TunnelInfo }> {
  return waitFor(async () => {
    const [a, b] = [await tunnelTo(lab, 'n2', 'n3'), await tunnelTo(lab, 'n3', 'n2')];
    if (a?.state !== 'up' || b?.state !== 'up') return undefined;
    return a.direction === 'outgoing' ? { client: 'n2', server: 'n3', t: a } : { client: 'n3', server: 'n2', t: b };
  }, { ...WAIT, what: 'a tunnel between n2 and n3 up at both ends' });
}

async function tunnelTo(lab: LabHandle, from: string, to: string): Promise<TunnelInfo | undefined> {
  return (await lab.tunnels(from)).find((t) => t.peer === lab.node(to).prefix);
}

test.serial('two nodes behind one NAT router tunnel over their LAN addresses, also found again with the registry stopped', async (t) => {
  t.timeout(15 * 60_000);
  const lab = await labFor(t, 'nl', { nodes: 3, nat: 2, natLan: true, natKind: 'eim', upnp: false, nodeConfigPatch: patch, reachTimeoutMs: FORMING_MS });
  const segment = lab.manifest.layout.natLan;
  if (!segment) throw new Error('the lab has no LAN behind its router');
  t.deepEqual(lab.manifest.layout.gateways.map((g) => g.nodes), [['n2', 'n3']], 'one router for both');
  const lanAddress = new Map(segment.members.map((m) => [m.node, m.address]));
  const startedMs = lab.manifest.daemonsStartedAtMs ?? Date.now();

  const first = await lanTunnel(lab);
  t.log(`tunnel ${first.client} → ${first.server} over ${first.t.remote}, seen up ${Math.round((Date.now() - startedMs) / 1000)} s after the daemons started`);
  // The client's openvpn talks to the server's LAN address, inside the router's LAN: no NAT crossed.
  t.is(first.t.remote?.split(':')[0], lanAddress.get(first.server), 'the far end is the LAN address');
  t.true(inCidr(first.t.remote?.split(':')[0] ?? '', segment.subnet));
  // The tunnel may come up first over the address the peer announced; LAN discovery finds it at its next announcement.
  const found = `peer ${lab.node(first.server).prefix} found on LAN eth0`;
  const lines = await waitFor(async () => {
    const texts = (await lab.events(first.client)).map((e) => String(e.text));
    return texts.some((l) => l.includes(found)) ? texts : undefined;
  }, { ...WAIT, what: `"${found}" at ${first.client}` });
  t.true(lines.some((l) => l.includes(found)), 'found by LAN discovery');
  t.false(lines.some((l) => l.includes('established via hole punching')), 'not punched through the router');
  // Overlay traffic between them takes that tunnel, and both reach the rest of the overlay.
  const n2Side = (await tunnelTo(lab, 'n2', 'n3'))?.interface ?? 'none';
  const dev = await waitFor(async () => {
    const d = await lab.routeDev('n2', 'n3');
    return d === n2Side ? d : undefined;
  }, { ...WAIT, what: "n2's route to n3 through the LAN tunnel" });
  t.is(dev, n2Side);
  await lab.awaitAllPairs({ timeoutMs: WAIT.timeoutMs });

  // Registry stopped; n3 starts again knowing nobody (empty peer DB).
  await lab.stopRegistry();
  await lab.stopDaemon('n3');
  const n3 = lab.node('n3');
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${peerDbPath(n3)}${suffix}`, { force: true });
  const restartedMs = Date.now();
  lab.startDaemon('n3');
  const again = await lanTunnel(lab);
  t.log(`with the registry stopped, n3 (empty peer DB) has its LAN tunnel again ${Math.round((Date.now() - restartedMs) / 1000)} s after its restart (${again.client} → ${again.t.remote})`);
  t.is(again.t.remote?.split(':')[0], lanAddress.get(again.server));
  const elapsedMs = await lab.awaitAllPairs({ timeoutMs: WAIT.timeoutMs });
  t.log(`every pair reaches again ${Math.round((Date.now() - restartedMs) / 1000)} s after n3's restart (all-pairs wait ${Math.round(elapsedMs / 1000)} s)`);
  const lan = (await lab.cliJson<{ lan: LanStatus | null }>('n3', 'status')).lan;
  t.true(lan?.neighbours.some((n) => n.prefix === lab.node('n2').prefix && n.interface === 'eth0'), 'n2 is n3\'s LAN neighbour');
  t.true((await tunnelTo(lab, 'n3', 'n1')) !== undefined || (await lab.routeDev('n3', 'n1')) !== null, 'n3 reaches n1 (learned from n2)');
});
