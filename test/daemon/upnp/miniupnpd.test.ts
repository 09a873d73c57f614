// The real adapter (daemon/upnp/upnp-igd.ts) and mapping service against a real
// miniupnpd, IGDv2 (Debian's default) and IGDv1 (force_igd_desc_v1=yes), in
// namespaces built here (see igd-lab.ts). The adapter runs in an agent inside the
// LAN namespace; the test asks the gateway itself (lease file, nft) what exists.
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { portMapperContract, type PortMapperContractEnv } from '../../contracts/port-mapper.contract.js';
import { AgentClient } from './igd-agent-client.js';
import { waitFor } from '../../fixtures/wait.js';
import type { UpnpMappingsOptions, UpnpStatus } from '../../../daemon/upnp/mapper.js';
import { ip, startIgdLab, type IgdLab } from './igd-lab.js';

const AGENT = fileURLToPath(new URL('./igd-agent.ts', import.meta.url));

interface LabCtx {
  lab: IgdLab;
  agent: AgentClient;
  isoAgent: AgentClient;
}

const labs = new Map<1 | 2, Promise<LabCtx>>();
const started: LabCtx[] = [];
const bare: IgdLab[] = [];

async function startAgent(lab: IgdLab, ns: string, discoveryTimeoutMs: number): Promise<AgentClient> {
  const child = lab.spawnIn(ns, [process.execPath, '--import', 'tsx', AGENT, String(discoveryTimeoutMs)]);
  const agent = new AgentClient(child);
  await agent.ready;
  return agent;
}

function labFor(igd: 1 | 2): Promise<LabCtx> {
  let p = labs.get(igd);
  if (!p) {
    p = (async () => {
      const lab = await startIgdLab({ igdV1: igd === 1 });
      bare.push(lab);
      const agent = await startAgent(lab, lab.ns.lan, 3000);
      const isoAgent = await startAgent(lab, lab.ns.iso, 1000);
      const ctx = { lab, agent, isoAgent };
      started.push(ctx);
      return ctx;
    })();
    labs.set(igd, p);
  }
  return p;
}

test.before(async () => {
  // Both gateways come up in parallel (each waits ~3 s for its STUN probe).
  await Promise.all([labFor(2), labFor(1)]);
});

test.after.always(async () => {
  for (const ctx of started) {
    await ctx.agent.close().catch(() => undefined);
    await ctx.isoAgent.close().catch(() => undefined);
  }
  for (const lab of bare) {
    // RESILNET_TEST_DEBUG=1 prints what the gateway did (SOAP requests, nft errors).
    if (process.env.RESILNET_TEST_DEBUG) console.error(lab.gatewayLog().split('\n').filter((l) => !/pinhole|table_cb|parse_stun/.test(l)).join('\n'));
    await lab.teardown();
  }
});

/**
 * Starts the mapping service and waits until every port is mapped: on a loaded machine a call of
 * the first round can time out, and the service maps the port at its next round instead.
 */
async function startMapped(agent: AgentClient, options: UpnpMappingsOptions): Promise<UpnpStatus> {
  await agent.mappingsStart(options);
  return waitFor(async () => {
    const status = await agent.mappingsStatus();
    const states = status?.mappings.map((m) => m.state) ?? [];
    if (states.length === 0 || states.some((x) => x !== 'mapped')) throw new Error(`mappings: ${states.join(' ') || 'none'}`);
    return status!;
  }, { what: 'every port mapped', timeoutMs: 90_000 });
}

async function contractEnv(igd: 1 | 2): Promise<PortMapperContractEnv> {
  const { lab, agent, isoAgent } = await labFor(igd);
  return {
    mapper: agent,
    noGatewayMapper: isoAgent,
    ports: [20001, 20002, 20003],
    expectedExternalIp: lab.extIp,
    expectedInternalIp: lab.lanIp,
    async gatewayMapping(port, protocol) {
      const line = (await lab.leases()).find((l) => l.protocol === protocol && l.externalPort === port);
      return line && { internalPort: line.internalPort, internalIp: line.internalIp };
    },
  };
}

const LISTENER = `
const s = require('node:dgram').createSocket('udp4');
s.on('message', (m, r) => { console.log(JSON.stringify({ data: m.toString(), from: r.address })); process.exit(0); });
s.bind(Number(process.argv[1]), () => console.log(JSON.stringify({ listening: true })));
`;
const SENDER = `
const s = require('node:dgram').createSocket('udp4');
s.send(process.argv[3], Number(process.argv[2]), process.argv[1], (err) => { if (err) throw err; s.close(); });
`;

for (const igd of [2, 1] as const) {
  const title = `miniupnpd IGDv${igd}`;
  portMapperContract(test, title, () => contractEnv(igd));

  test.serial(`${title}: a mapped UDP port forwards a packet from the WAN side to the LAN host`, async (t) => {
    const { lab, agent } = await labFor(igd);
    const port = 20010;
    const listener = lab.spawnIn(lab.ns.lan, [process.execPath, '-e', LISTENER, String(port)]);
    let out = '';
    listener.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    await waitFor(() => (out.includes('listening') ? true : undefined), { what: 'listener bound in the LAN namespace' });

    const mapping = await agent.map(port, 'UDP', 300, { signal: new AbortController().signal });
    t.teardown(() => agent.unmap(port, 'UDP', { signal: new AbortController().signal }).catch(() => undefined));
    t.is(mapping.internalIp, lab.lanIp);

    const lease = (await lab.leases()).find((l) => l.externalPort === port && l.protocol === 'UDP');
    t.like(lease, { internalIp: lab.lanIp, internalPort: port, description: 'resilnet' });
    t.true((lease?.expiresAtSec ?? 0) > Date.now() / 1000, 'lease expiry lies in the future');
    t.regex(await lab.nftRules(), new RegExp(`dport ${port}\\b`));

    const payload = `hello-${lab.id}`;
    const got = await waitFor(async () => {
      if (out.includes(payload)) return out;
      // UDP: send again until one arrives (the first may race the rule).
      await lab.exec(lab.ns.wan, [process.execPath, '-e', SENDER, lab.extIp, String(port), payload]);
      return undefined;
    }, { what: `a packet from ${lab.wanIp} to ${lab.extIp}:${port} reaching ${lab.lanIp}:${port}` });
    const line = JSON.parse(got.trim().split('\n').find((l) => l.includes(payload))!) as { data: string; from: string };
    t.is(line.data, payload);
    t.is(line.from, lab.wanIp);

    await agent.unmap(port, 'UDP', { signal: new AbortController().signal });
    t.is((await lab.leases()).find((l) => l.externalPort === port), undefined);
    t.notRegex(await lab.nftRules(), new RegExp(`dport ${port}\\b`));
  });

  test.serial(`${title}: the mapping service maps the node's ports, reports the external address and removes everything at stop`, async (t) => {
    const { lab, agent } = await labFor(igd);
    const ports = [21194, 21195, 21196].map((port) => ({ port, protocol: 'UDP' as const }));
    t.teardown(() => agent.mappingsStop().catch(() => undefined));
    const status = await startMapped(agent, { ports, leaseSec: 600 });
    t.deepEqual(
      status.mappings.map((m) => [m.port, m.state]),
      ports.map((p) => [p.port, 'mapped']),
    );
    t.is(status.externalIp, lab.extIp);
    t.is(status.gateway?.internalIp, lab.lanIp);

    const leases = await lab.leases();
    for (const { port } of ports) {
      t.like(
        leases.find((l) => l.externalPort === port),
        { protocol: 'UDP', internalIp: lab.lanIp, internalPort: port },
      );
    }
    const rules = await lab.nftRules();
    for (const { port } of ports) t.regex(rules, new RegExp(`dport ${port}\\b`));
    const address = await waitFor(() => agent.addresses.at(-1) ?? undefined, { what: 'external address reported' });
    t.is(address.ip, lab.extIp);
    t.deepEqual(address.mappings.map((m) => m.externalPort).sort(), [21194, 21195, 21196]);
    t.deepEqual(await agent.health(), []);

    await agent.mappingsStop();
    t.deepEqual(await lab.leases(), []);
    const after = await lab.nftRules();
    for (const { port } of ports) t.notRegex(after, new RegExp(`dport ${port}\\b`));
    t.is(agent.addresses.at(-1), null);
  });
}

test.serial('without a gateway the mapping service raises RN_UPNP_NO_GATEWAY and maps nothing', async (t) => {
  const { isoAgent } = await labFor(2);
  t.teardown(() => isoAgent.mappingsStop().catch(() => undefined));
  const status = await isoAgent.mappingsStart({ ports: [{ port: 22194, protocol: 'UDP' }], leaseSec: 600 });
  t.is(status.gateway, undefined);
  t.deepEqual(status.mappings.map((m) => m.state), ['pending']);
  const items = await isoAgent.health();
  t.deepEqual(items.map((i) => i.code), ['RN_UPNP_NO_GATEWAY']);
  t.regex(items[0]!.text, /UDP 22194/);
  await isoAgent.mappingsStop();
  t.deepEqual(await isoAgent.health(), []);
});

test.serial('miniupnpd IGDv2: a port another LAN host holds (718) gets the node another external port; the other host keeps its own', async (t) => {
  const { lab, agent } = await labFor(2);
  const port = 23194;
  const other = lab.lanIp.replace(/\.\d+$/, '.3');
  const gwLan = lab.lanIp.replace(/\.\d+$/, '.1');
  // The other host: a second address on the LAN, and upnpc speaking from it (secure_mode maps only to the asker).
  await ip('-n', lab.ns.lan, 'addr', 'add', `${other}/24`, 'dev', 'eth0');
  t.teardown(async () => {
    await ip('-n', lab.ns.lan, 'addr', 'del', `${other}/24`, 'dev', 'eth0').catch(() => undefined);
  });
  await ip('-n', lab.ns.lan, 'route', 'add', `${gwLan}/32`, 'dev', 'eth0', 'src', other);
  try {
    await lab.exec(lab.ns.lan, ['upnpc', '-i', '-m', 'eth0', '-e', 'other host', '-a', other, String(port), String(port), 'UDP', '600'], { timeoutMs: 30_000 });
  } finally {
    await ip('-n', lab.ns.lan, 'route', 'del', `${gwLan}/32`);
  }
  t.like((await lab.leases()).find((l) => l.externalPort === port), { internalIp: other }, 'the other host holds the port');

  t.teardown(() => agent.mappingsStop().catch(() => undefined));
  const status = await startMapped(agent, { ports: [{ port, protocol: 'UDP' }], leaseSec: 600 });
  t.deepEqual(status.mappings.map((m) => m.state), ['mapped']);
  const address = await waitFor(() => agent.addresses.at(-1) ?? undefined, { what: 'external address reported' });
  const mapping = address.mappings[0];
  t.is(mapping?.internalPort, port);
  t.not(mapping?.externalPort, port);
  const leases = await lab.leases();
  t.like(leases.find((l) => l.externalPort === mapping?.externalPort), { internalIp: lab.lanIp, internalPort: port, description: 'resilnet' });
  t.like(leases.find((l) => l.externalPort === port), { internalIp: other }, 'the other host keeps its mapping');
  await agent.mappingsStop();
  t.is((await lab.leases()).find((l) => l.internalIp === lab.lanIp), undefined, 'ours is removed at stop');
});

test.serial('miniupnpd IGDv2: a mapping a crashed run left (our description and address) is removed when the service starts', async (t) => {
  const { lab, agent } = await labFor(2);
  await agent.map(24194, 'UDP', 600, { signal: new AbortController().signal });
  t.like((await lab.leases()).find((l) => l.externalPort === 24194), { internalIp: lab.lanIp, description: 'resilnet' });
  t.teardown(() => agent.mappingsStop().catch(() => undefined));
  const status = await startMapped(agent, { ports: [{ port: 24195, protocol: 'UDP' }], leaseSec: 600 });
  t.deepEqual(status.mappings.map((m) => [m.port, m.state, m.lastErrorCode]), [[24195, 'mapped', undefined]]);
  const ports = (await lab.leases()).filter((l) => l.internalIp === lab.lanIp).map((l) => l.externalPort);
  t.deepEqual(ports, [24195]);
  await agent.mappingsStop();
});
