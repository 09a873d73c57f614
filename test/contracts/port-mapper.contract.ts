// One behaviour contract for every PortMapper: the fake in unit tests
// (test/daemon/upnp/fake-port-mapper.test.ts) and the real IGD adapter against
// miniupnpd in namespaces (test/daemon/upnp/miniupnpd.test.ts) run these same tests.
import { isIPv4 } from 'node:net';
import type { ExecutionContext, TestFn } from 'ava';
import { isUpnpError, type PortMapper, type PortProtocol, type UpnpErrorCode } from '../../daemon/upnp/port-mapper.js';

export interface PortMapperContractEnv {
  /** A mapper that reaches a working gateway. */
  mapper: PortMapper;
  /** A mapper with no gateway anywhere it can search. */
  noGatewayMapper: PortMapper;
  /** Three ports (≥ 1024) the suite may map; nothing else holds them. */
  ports: [number, number, number];
  /** Asks the gateway side itself (not the mapper) whether the mapping exists, and its internal port. */
  gatewayMapping(port: number, protocol: PortProtocol): Promise<{ internalPort: number; internalIp: string } | undefined>;
  /** The external address the gateway is known to have, when the environment knows it. */
  expectedExternalIp?: string;
  /** Our LAN address as the gateway sees it, when known. */
  expectedInternalIp?: string;
}

const signal = (): AbortSignal => new AbortController().signal;

async function expectCode(t: ExecutionContext, promise: Promise<unknown>, code: UpnpErrorCode): Promise<void> {
  const err = await t.throwsAsync(promise);
  t.true(isUpnpError(err, code), `expected ${code}, got ${String((err as { code?: unknown } | undefined)?.code)}: ${err?.message}`);
}

/** Registers the contract's tests (serial: they share one gateway) under `title`. */
export function portMapperContract(test: TestFn, title: string, env: () => Promise<PortMapperContractEnv>): void {
  test.serial(`${title}: discover finds the gateway and the address it sees us on`, async (t) => {
    const e = await env();
    const info = await e.mapper.discover({ signal: signal() });
    t.true(URL.canParse(info.location), info.location);
    t.regex(info.serviceType, /^urn:schemas-upnp-org:service:WAN(IP|PPP)Connection:[12]$/);
    t.true(isIPv4(info.internalIp), info.internalIp);
    if (e.expectedInternalIp) t.is(info.internalIp, e.expectedInternalIp);
  });

  test.serial(`${title}: externalIp returns the gateway's WAN address`, async (t) => {
    const e = await env();
    const ip = await e.mapper.externalIp({ signal: signal() });
    t.true(isIPv4(ip), ip);
    if (e.expectedExternalIp) t.is(ip, e.expectedExternalIp);
  });

  for (const protocol of ['UDP', 'TCP'] as const) {
    test.serial(`${title}: map ${protocol} creates the mapping, a second map refreshes it, unmap removes it`, async (t) => {
      const e = await env();
      const port = protocol === 'UDP' ? e.ports[0] : e.ports[1];
      const mapping = await e.mapper.map(port, protocol, 600, { signal: signal() });
      t.like(mapping, { protocol, internalPort: port, externalPort: port });
      t.true(mapping.leaseSec > 0 && mapping.leaseSec <= 600, `lease ${mapping.leaseSec}`);
      t.true(isIPv4(mapping.internalIp));
      if (e.expectedInternalIp) t.is(mapping.internalIp, e.expectedInternalIp);
      t.like(await e.gatewayMapping(port, protocol), { internalPort: port, internalIp: mapping.internalIp });

      const again = await e.mapper.map(port, protocol, 900, { signal: signal() });
      t.is(again.externalPort, port);
      t.truthy(await e.gatewayMapping(port, protocol));

      await e.mapper.unmap(port, protocol, { signal: signal() });
      t.is(await e.gatewayMapping(port, protocol), undefined);
    });
  }

  test.serial(`${title}: unmap of a mapping that does not exist succeeds`, async (t) => {
    const e = await env();
    await e.mapper.unmap(e.ports[2], 'UDP', { signal: signal() });
    await e.mapper.unmap(e.ports[2], 'UDP', { signal: signal() });
    t.is(await e.gatewayMapping(e.ports[2], 'UDP'), undefined);
  });

  test.serial(`${title}: bad arguments fail with RN_UPNP_BAD_REQUEST and map nothing`, async (t) => {
    const e = await env();
    const s = signal();
    await expectCode(t, e.mapper.map(0, 'UDP', 600, { signal: s }), 'RN_UPNP_BAD_REQUEST');
    await expectCode(t, e.mapper.map(65536, 'UDP', 600, { signal: s }), 'RN_UPNP_BAD_REQUEST');
    await expectCode(t, e.mapper.map(1.5, 'UDP', 600, { signal: s }), 'RN_UPNP_BAD_REQUEST');
    await expectCode(t, e.mapper.map(e.ports[2], 'ICMP' as PortProtocol, 600, { signal: s }), 'RN_UPNP_BAD_REQUEST');
    await expectCode(t, e.mapper.map(e.ports[2], 'UDP', 0, { signal: s }), 'RN_UPNP_BAD_REQUEST');
    await expectCode(t, e.mapper.map(e.ports[2], 'UDP', 604_801, { signal: s }), 'RN_UPNP_BAD_REQUEST');
    await expectCode(t, e.mapper.unmap(-1, 'TCP', { signal: s }), 'RN_UPNP_BAD_REQUEST');
    t.is(await e.gatewayMapping(e.ports[2], 'UDP'), undefined);
  });

  test.serial(`${title}: an aborted signal rejects with its reason and maps nothing`, async (t) => {
    const e = await env();
    const controller = new AbortController();
    const reason = new Error('shutting down');
    controller.abort(reason);
    const err = await t.throwsAsync(e.mapper.map(e.ports[2], 'UDP', 600, { signal: controller.signal }));
    t.is(err, reason);
    const err2 = await t.throwsAsync(e.mapper.discover({ signal: controller.signal }));
    t.is(err2, reason);
    t.is(await e.gatewayMapping(e.ports[2], 'UDP'), undefined);
  });

  test.serial(`${title}: without a gateway every call fails with RN_UPNP_NO_GATEWAY`, async (t) => {
    const e = await env();
    await expectCode(t, e.noGatewayMapper.discover({ signal: signal() }), 'RN_UPNP_NO_GATEWAY');
    await expectCode(t, e.noGatewayMapper.externalIp({ signal: signal() }), 'RN_UPNP_NO_GATEWAY');
    await expectCode(t, e.noGatewayMapper.map(e.ports[2], 'UDP', 600, { signal: signal() }), 'RN_UPNP_NO_GATEWAY');
  });
}
