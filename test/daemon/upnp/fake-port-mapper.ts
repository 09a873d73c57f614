// An in-memory gateway behind the PortMapper interface. It passes the same
// contract as the real adapter (port-mapper-fake.test.ts) and can be scripted:
// gateway absent, a call failing with a given code, leases shortened.
import {
  checkMapArgs,
  UpnpError,
  type GatewayInfo,
  type PortMapper,
  type PortMapping,
  type PortProtocol,
  type UpnpErrorCode,
} from '../../../daemon/upnp/port-mapper.js';

export type FakeOp = 'discover' | 'externalIp' | 'map' | 'unmap' | 'list';

export interface FakeCall {
  op: FakeOp;
  port?: number;
  protocol?: PortProtocol;
  leaseSec?: number;
  /** When a map asked for another external port than the internal one. */
  externalPort?: number;
}

export class FakePortMapper implements PortMapper {
  /** false: no gateway answers (every call fails with RN_UPNP_NO_GATEWAY). */
  gatewayPresent = true;
  externalAddress = '198.51.100.7';
  internalIp = '192.168.1.20';
  /** The gateway shortens leases to at most this (miniupnpd's max_lifetime). */
  maxLeaseSec = 86_400;
  readonly calls: FakeCall[] = [];
  /** The gateway's table: "UDP:1194" → mapping. */
  readonly table = new Map<string, PortMapping>();
  private readonly failures: { op: FakeOp; code: UpnpErrorCode; upnpErrorCode?: number; times: number }[] = [];
  /** Calls of these operations never answer (until their signal aborts). */
  readonly hang = new Set<FakeOp>();
  private discovered = false;

  /** The next `times` calls of `op` fail with `code`. */
  failNext(op: FakeOp, code: UpnpErrorCode, options: { times?: number; upnpErrorCode?: number } = {}): void {
    this.failures.push({ op, code, times: options.times ?? 1, ...(options.upnpErrorCode === undefined ? {} : { upnpErrorCode: options.upnpErrorCode }) });
  }

  /** The gateway reboots: its table is empty. */
  reboot(): void {
    this.table.clear();
  }

  count(op: FakeOp): number {
    return this.calls.filter((c) => c.op === op).length;
  }

  async discover({ signal }: { signal: AbortSignal }): Promise<GatewayInfo> {
    signal.throwIfAborted();
    this.calls.push({ op: 'discover' });
    this.discovered = false;
    await this.step('discover', undefined, undefined, signal);
    this.discovered = true;
    return { location: 'http://192.168.1.1:5000/rootDesc.xml', serviceType: 'urn:schemas-upnp-org:service:WANIPConnection:2', internalIp: this.internalIp };
  }

  async externalIp({ signal }: { signal: AbortSignal }): Promise<string> {
    signal.throwIfAborted();
    await this.ensureGateway(signal);
    this.calls.push({ op: 'externalIp' });
    await this.step('externalIp', undefined, undefined, signal);
    return this.externalAddress;
  }

  async map(internalPort: number, protocol: PortProtocol, leaseSec: number, { signal, externalPort = internalPort }: { signal: AbortSignal; externalPort?: number }): Promise<PortMapping> {
    checkMapArgs(internalPort, protocol, leaseSec);
    signal.throwIfAborted();
    await this.ensureGateway(signal);
    this.calls.push({ op: 'map', port: internalPort, protocol, leaseSec, ...(externalPort !== internalPort ? { externalPort } : {}) });
    await this.step('map', internalPort, protocol, signal);
    const holder = this.table.get(`${protocol}:${externalPort}`);
    if (holder && holder.internalIp !== this.internalIp) {
      throw new UpnpError('RN_UPNP_PORT_CONFLICT', `fake gateway: ${protocol} ${externalPort} is mapped to ${holder.internalIp}.`, { details: { port: externalPort, protocol, upnpErrorCode: 718 } });
    }
    const mapping: PortMapping = {
      protocol,
      internalPort,
      externalPort,
      internalIp: this.internalIp,
      leaseSec: Math.min(leaseSec, this.maxLeaseSec),
    };
    this.table.set(`${protocol}:${externalPort}`, mapping);
    return { ...mapping };
  }

  /** Mappings to our address with our description: every one in the table that points at us (the fake has one description). */
  async ownMappings({ signal }: { signal: AbortSignal }): Promise<{ externalPort: number; protocol: PortProtocol }[]> {
    signal.throwIfAborted();
    await this.ensureGateway(signal);
    this.calls.push({ op: 'list' });
    return [...this.table.values()].filter((m) => m.internalIp === this.internalIp).map((m) => ({ externalPort: m.externalPort, protocol: m.protocol }));
  }

  /** Another host on the LAN holds `externalPort` (a later map of it conflicts, 718). */
  takenByOther(externalPort: number, protocol: PortProtocol = 'UDP'): void {
    this.table.set(`${protocol}:${externalPort}`, { protocol, internalPort: externalPort, externalPort, internalIp: '192.168.1.99', leaseSec: 0 });
  }

  async unmap(port: number, protocol: PortProtocol, { signal }: { signal: AbortSignal }): Promise<void> {
    checkMapArgs(port, protocol);
    signal.throwIfAborted();
    await this.ensureGateway(signal);
    this.calls.push({ op: 'unmap', port, protocol });
    await this.step('unmap', port, protocol, signal);
    this.table.delete(`${protocol}:${port}`);
  }

  private async ensureGateway(signal: AbortSignal): Promise<void> {
    if (!this.discovered || !this.gatewayPresent) await this.discover({ signal });
  }

  private async step(op: FakeOp, port?: number, protocol?: PortProtocol, signal?: AbortSignal): Promise<void> {
    await Promise.resolve();
    if (this.hang.has(op) && signal) {
      await new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
    }
    if (!this.gatewayPresent) {
      this.discovered = false;
      throw new UpnpError('RN_UPNP_NO_GATEWAY', 'no UPnP gateway answered: fake gateway is absent.');
    }
    const failure = this.failures.find((f) => f.op === op);
    if (!failure) return;
    failure.times--;
    if (failure.times <= 0) this.failures.splice(this.failures.indexOf(failure), 1);
    if (failure.code === 'RN_UPNP_GATEWAY_UNREACHABLE') this.discovered = false;
    throw new UpnpError(failure.code, `fake gateway: ${op} fails with ${failure.code}.`, {
      details: { ...(port === undefined ? {} : { port }), ...(protocol === undefined ? {} : { protocol }), ...(failure.upnpErrorCode === undefined ? {} : { upnpErrorCode: failure.upnpErrorCode }) },
    });
  }
}
