// Hole punching in the lab (built CLI and daemon, `npm run build` first): n1 on
// the lab's internet, n2 and n3 each behind its own NAT router without UPnP.
// Behind endpoint-independent routers n2 and n3 get a direct tunnel by hole
// punching: both ends list it, the event line says so, and the kernel's route
// from one to the other goes through that tunnel's interface. Behind
// port-randomising routers they get none, learn why from the first refused
// punch request, stop trying, and still reach each other through n1.
import { readFileSync } from 'node:fs';
import test from 'ava';
import type { LabHandle } from '../../lab/handle.js';
import { waitFor } from '../../lab/wait.js';
import { labFor } from './fixture.js';

const WAIT = { timeoutMs: 600_000, intervalMs: 3_000 };

/** Every node keeps up to 2 outgoing tunnels: n1, and the other node behind a NAT. */
const patch = (): Record<string, Record<string, unknown>> => ({ tunnels: { client_count: 2 } });
// A generous deadline to form: at start the public node and a NATed one may ask each other for a
// tunnel at once, and the NATed one (its NAT class not known yet) may become the server end. It
// gives that end up when it learns its class (decisions D10), but a loaded machine can still
// leave it to the 30 s time-out. Not what this file tests.
const FORMING_MS = 180_000;

async function tunnelTo(lab: LabHandle, from: string, to: string) {
  const prefix = lab.node(to).prefix;
  return (await lab.tunnels(from)).find((t) => t.peer === prefix);
}

/** The daemon's log lines (pino JSON) with this message. */
function daemonLines(lab: LabHandle, node: string, msg: string): Array<{ time: number; peer?: string; reason?: string }> {
  return readFileSync(lab.daemon(node)!.log, 'utf8')
    .split('\n')
    .filter((l) => l.includes(`"msg":"${msg}"`))
    .map((l) => JSON.parse(l) as { time: number | string; peer?: string; reason?: string })
    // pino writes time as epoch ms or ISO text, by configuration.
    .map((l) => ({ ...l, time: typeof l.time === 'string' ? Date.parse(l.time) : l.time }));
}

async function peerWhy(lab: LabHandle, from: string, to: string): Promise<string> {
  const out = await lab.cliJson<{ peers: Array<{ prefix: string; path?: { why?: string } }> }>(from, 'peers');
  return out.peers.find((p) => p.prefix === lab.node(to).prefix)?.path?.why ?? '';
}

test.serial('behind endpoint-independent NATs without UPnP, two nodes get a direct tunnel by hole punching', async (t) => {
  t.timeout(12 * 60_000);
  const lab = await labFor(t, 'pe', { nodes: 3, nat: 2, natKind: 'eim', upnp: false, nodeConfigPatch: patch, reachTimeoutMs: FORMING_MS });
  const startedMs = Date.now();
  const both = await waitFor(
    async () => {
      const a = await tunnelTo(lab, 'n2', 'n3');
      const b = await tunnelTo(lab, 'n3', 'n2');
      return a?.state === 'up' && b?.state === 'up' ? { a, b } : undefined;
    },
    { ...WAIT, what: 'a tunnel between n2 and n3 up at both ends' },
  );
  t.log(`tunnel n2–n3 up ${Math.round((Date.now() - startedMs) / 1000)} s after the daemons started`);
  t.not(both.a.direction, both.b.direction, 'one client end, one server end');
  const client = both.a.direction === 'outgoing' ? { node: 'n2', t: both.a } : { node: 'n3', t: both.b };
  const gwOf = (node: string) => lab.manifest.layout.gateways.find((g) => g.nodes.includes(node))!;
  const server = client.node === 'n2' ? 'n3' : 'n2';
  // The client's openvpn talks to the server's router: the server's public endpoint, not its private address.
  t.regex(client.t.remote ?? '', new RegExp(`^${gwOf(server).wan.replaceAll('.', '\\.')}:\\d+$`));

  const lines = async (node: string) => (await lab.events(node)).map((e) => String(e.text));
  for (const node of ['n2', 'n3']) {
    const other = node === 'n2' ? 'n3' : 'n2';
    const punched = (await lines(node)).find((l) => l.includes(`link with ${lab.node(other).prefix} established via hole punching`));
    t.truthy(punched, `${node} has the event line`);
    t.regex(punched ?? '', new RegExp(`\\(${gwOf(node).wan.replaceAll('.', '\\.')}:\\d+ → ${gwOf(other).wan.replaceAll('.', '\\.')}:\\d+\\)`));
  }

  // Overlay traffic between them crosses the punched tunnel.
  const dev = await waitFor(async () => {
    const d = await lab.routeDev('n2', 'n3');
    return d === both.a.interface ? d : undefined;
  }, { ...WAIT, what: "n2's route to n3 through the punched tunnel" });
  t.is(dev, both.a.interface);
  t.true(await waitFor(async () => ((await lab.ping('n2', 'n3', 2)) ? true : undefined), { ...WAIT, what: 'n2 pings n3' }));
});

test.serial('behind port-randomising NATs two nodes get no direct tunnel, stop trying, and reach each other through the overlay', async (t) => {
  t.timeout(12 * 60_000);
  const lab = await labFor(t, 'pa', { nodes: 3, nat: 2, natKind: 'apdm', upnp: false, nodeConfigPatch: patch, reachTimeoutMs: FORMING_MS });
  await waitFor(async () => ((await lab.ping('n2', 'n3', 2)) && (await lab.ping('n3', 'n2', 2)) ? true : undefined), { ...WAIT, what: 'n2 and n3 reach each other' });
  // The first refused punch request tells each side the other's class.
  const why = await waitFor(async () => {
    const w = await peerWhy(lab, 'n2', 'n3');
    return /port-randomising|the peer is apdm/.test(w) ? w : undefined;
  }, { ...WAIT, what: "n2's peers view to say why n3 is not direct" });
  t.log(`n2 about n3: ${why}`);
  // No attempt after the class is known: not even once the retry n2 had scheduled for n3 is due.
  const n3 = lab.node('n3').prefix!;
  const lines = (msg: string) => daemonLines(lab, 'n2', msg).filter((l) => l.peer === n3);
  // n2 learns it from its own request's refusal, or from n3's request (whichever node asked first).
  const learned = [...lines('hole punch answered').filter((l) => /apdm/.test(String(l.reason))), ...lines('punch request refused')].sort((a, b) => a.time - b.time)[0];
  t.truthy(learned, 'a punch message between n2 and n3 told n2 that n3 is apdm');
  const view = (await lab.cliJson<{ peers: Array<{ prefix: string; nextRetryMs: number | null }> }>('n2', 'peers')).peers.find((p) => p.prefix === n3);
  const dueMs = Math.max(view?.nextRetryMs ?? 0, Date.now()) + 20_000;
  await waitFor(() => (Date.now() > dueMs ? true : undefined), { ...WAIT, what: "n3's retry at n2 to be due and a plan round to pass" });
  // An attempt already under way when the class was learned ends within 30 s (request and punch time-outs).
  const later = [...lines('hole punch requested').filter((l) => l.time > learned!.time), ...lines('tunnel attempt failed').filter((l) => l.time > learned!.time + 30_000)];
  t.deepEqual(later, [], 'no attempt to n3 after its class was learned');
  t.is(await tunnelTo(lab, 'n2', 'n3'), undefined);
  t.is(await tunnelTo(lab, 'n3', 'n2'), undefined);
  t.not(await lab.routeDev('n2', 'n3'), null, 'a route through the overlay');
});
