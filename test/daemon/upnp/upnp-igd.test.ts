// The real adapter (and the library under it) against a fake gateway on
// 127.0.0.1 that replays replies captured from miniupnpd: how SOAP faults, dead
// gateways and odd replies become UpnpError codes. SSDP is skipped (testOnlyGateway).
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { isUpnpError, type UpnpErrorCode } from '../../../daemon/upnp/port-mapper.js';
import { UpnpIgd } from '../../../daemon/upnp/upnp-igd.js';
import { systemClock } from '../../../daemon/sys/clock.js';
import { recordLog } from './record-log.js';

const fixture = (name: string): string => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
const ROOT_DESC = fixture('igdv2-rootDesc.xml');
const OK = { status: 200, body: fixture('igdv2-add-ok.xml') };
const GET_SPECIFIC_600 = { status: 200, body: fixture('igdv2-get-specific.xml') };
const EXTERNAL_IP = { status: 200, body: fixture('igdv2-external-ip.xml') };
const CONFLICT_718 = { status: 500, body: fixture('igdv2-add-other-client.xml') };
const DENIED_606 = { status: 500, body: fixture('igdv2-add-denied-port.xml') };
const fault = (code: number, text: string) => ({
  status: 500,
  body: `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>${code}</errorCode><errorDescription>${text}</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>`,
});
const reply = (action: string, inner: string) => ({
  status: 200,
  body: `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><u:${action}Response xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:2">${inner}</u:${action}Response></s:Body></s:Envelope>`,
});

interface FakeGateway {
  server: Server;
  location: string;
  /** Replies per SOAP action, used in order; the last one repeats. */
  replies: Map<string, { status: number; body: string }[]>;
  requests: { action: string; body: string }[];
  rootDesc: string;
  /** Never answer SOAP requests. */
  hang: boolean;
}

async function fakeGateway(): Promise<FakeGateway> {
  const gw: Partial<FakeGateway> = { replies: new Map(), requests: [], rootDesc: ROOT_DESC, hang: false };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (req.method === 'GET' && req.url === '/rootDesc.xml') {
        res.writeHead(200, { 'content-type': 'text/xml' }).end(gw.rootDesc);
        return;
      }
      const action = /#(\w+)"?$/.exec(String(req.headers.soapaction))?.[1] ?? '?';
      gw.requests!.push({ action, body });
      if (gw.hang) return;
      const queue = gw.replies!.get(action) ?? [];
      const r = (queue.length > 1 ? queue.shift() : queue[0]) ?? { status: 500, body: fault(401, 'Invalid Action').body };
      res.writeHead(r.status, { 'content-type': 'text/xml; charset="utf-8"' }).end(r.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  gw.server = server;
  gw.location = `http://127.0.0.1:${port}/rootDesc.xml`;
  return gw as FakeGateway;
}

async function setup(t: { teardown(fn: () => void): void }) {
  const gw = await fakeGateway();
  t.teardown(() => {
    gw.server.closeAllConnections();
    gw.server.close();
  });
  const adapter = new UpnpIgd(
    { clock: systemClock, log: recordLog().log },
    { discoveryTimeoutMs: 1000, description: 'resilnet', testOnlyGateway: { location: gw.location, internalIp: '127.0.0.1' } },
  );
  return { gw, adapter };
}

const signal = (): AbortSignal => new AbortController().signal;

async function expectCode(t: import('ava').ExecutionContext, p: Promise<unknown>, code: UpnpErrorCode, upnpErrorCode?: number) {
  const err = await t.throwsAsync(p);
  t.true(isUpnpError(err, code), `expected ${code}, got ${String((err as { code?: string } | undefined)?.code)}: ${err?.message}`);
  if (upnpErrorCode !== undefined && isUpnpError(err)) t.is(err.details?.upnpErrorCode, upnpErrorCode);
  return err;
}

test('discover reads the captured IGDv2 description and picks WANIPConnection:2', async (t) => {
  const { adapter, gw } = await setup(t);
  t.deepEqual(await adapter.discover({ signal: signal() }), {
    location: gw.location,
    serviceType: 'urn:schemas-upnp-org:service:WANIPConnection:2',
    internalIp: '127.0.0.1',
  });
});

test('a description without a WAN connection service is RN_UPNP_GATEWAY_UNSUPPORTED', async (t) => {
  const { adapter, gw } = await setup(t);
  gw.rootDesc = ROOT_DESC.replaceAll('WANIPConnection', 'SomethingElse');
  await expectCode(t, adapter.discover({ signal: signal() }), 'RN_UPNP_GATEWAY_UNSUPPORTED');
});

test('map sends AddPortMapping for our address and returns the lease the gateway reports', async (t) => {
  const { adapter, gw } = await setup(t);
  gw.replies.set('AddPortMapping', [OK]);
  gw.replies.set('GetSpecificPortMappingEntry', [GET_SPECIFIC_600]);
  const mapping = await adapter.map(4002, 'UDP', 3600, { signal: signal() });
  t.deepEqual(mapping, { protocol: 'UDP', internalPort: 4002, externalPort: 4002, internalIp: '127.0.0.1', leaseSec: 600 });
  const add = gw.requests.find((r) => r.action === 'AddPortMapping')!.body;
  for (const part of ['<NewExternalPort>4002<', '<NewProtocol>UDP<', '<NewInternalClient>127.0.0.1<', '<NewLeaseDuration>3600<', '<NewPortMappingDescription>resilnet<']) {
    t.true(add.includes(part), part);
  }
});

test('when the gateway will not report the lease, the requested one is assumed', async (t) => {
  const { adapter, gw } = await setup(t);
  gw.replies.set('AddPortMapping', [OK]);
  gw.replies.set('GetSpecificPortMappingEntry', [fault(714, 'NoSuchEntryInArray')]);
  t.is((await adapter.map(4002, 'UDP', 900, { signal: signal() })).leaseSec, 900);
});

test('718 ConflictInMappingEntry (captured) is RN_UPNP_PORT_CONFLICT', async (t) => {
  const { adapter, gw } = await setup(t);
  gw.replies.set('AddPortMapping', [CONFLICT_718]);
  const err = await expectCode(t, adapter.map(4001, 'UDP', 600, { signal: signal() }), 'RN_UPNP_PORT_CONFLICT', 718);
  t.like(isUpnpError(err) ? err.details : {}, { port: 4001, protocol: 'UDP', httpStatus: 500 });
});

test('606 Action not authorized (captured) is RN_UPNP_MAP_FAILED with the UPnP code', async (t) => {
  const { adapter, gw } = await setup(t);
  gw.replies.set('AddPortMapping', [DENIED_606]);
  await expectCode(t, adapter.map(4001, 'UDP', 600, { signal: signal() }), 'RN_UPNP_MAP_FAILED', 606);
});

test('725 OnlyPermanentLeasesSupported: mapped again as permanent (lease 0)', async (t) => {
  const { adapter, gw } = await setup(t);
  gw.replies.set('AddPortMapping', [fault(725, 'OnlyPermanentLeasesSupported'), OK]);
  gw.replies.set('GetSpecificPortMappingEntry', [reply('GetSpecificPortMappingEntry', '<NewLeaseDuration>0</NewLeaseDuration>')]);
  t.is((await adapter.map(4003, 'TCP', 600, { signal: signal() })).leaseSec, 0);
  const adds = gw.requests.filter((r) => r.action === 'AddPortMapping');
  t.is(adds.length, 2);
  t.true(adds[1]!.body.includes('<NewLeaseDuration>0<'));
});

test('externalIp parses the captured reply; an empty or 0.0.0.0 address is RN_UPNP_EXTERNAL_IP_FAILED', async (t) => {
  const { adapter, gw } = await setup(t);
  gw.replies.set('GetExternalIPAddress', [
    EXTERNAL_IP,
    reply('GetExternalIPAddress', '<NewExternalIPAddress></NewExternalIPAddress>'),
    reply('GetExternalIPAddress', '<NewExternalIPAddress>0.0.0.0</NewExternalIPAddress>'),
  ]);
  t.regex(await adapter.externalIp({ signal: signal() }), /^10\.\d+\.\d+\.1$/);
  await expectCode(t, adapter.externalIp({ signal: signal() }), 'RN_UPNP_EXTERNAL_IP_FAILED');
  await expectCode(t, adapter.externalIp({ signal: signal() }), 'RN_UPNP_EXTERNAL_IP_FAILED');
});

test('unmap: 714 NoSuchEntryInArray counts as removed; other faults are RN_UPNP_UNMAP_FAILED', async (t) => {
  const { adapter, gw } = await setup(t);
  gw.replies.set('DeletePortMapping', [fault(714, 'NoSuchEntryInArray'), fault(606, 'Action not authorized')]);
  await adapter.unmap(4001, 'UDP', { signal: signal() });
  await expectCode(t, adapter.unmap(4001, 'UDP', { signal: signal() }), 'RN_UPNP_UNMAP_FAILED', 606);
});

test('a gateway that went away is RN_UPNP_GATEWAY_UNREACHABLE', async (t) => {
  const { adapter, gw } = await setup(t);
  await adapter.discover({ signal: signal() });
  gw.server.closeAllConnections();
  await new Promise((resolve) => gw.server.close(resolve));
  await expectCode(t, adapter.map(4001, 'UDP', 600, { signal: signal() }), 'RN_UPNP_GATEWAY_UNREACHABLE');
});

test('a gateway that never answers: the call rejects with the abort reason', async (t) => {
  const { adapter, gw } = await setup(t);
  await adapter.discover({ signal: signal() });
  gw.hang = true;
  const controller = new AbortController();
  const reason = new Error('timed out');
  const pending = adapter.externalIp({ signal: controller.signal });
  // Abort once the request has reached the gateway.
  const started = Date.now();
  while (!gw.requests.some((r) => r.action === 'GetExternalIPAddress') && Date.now() - started < 5000) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  controller.abort(reason);
  t.is(await t.throwsAsync(pending), reason);
});
