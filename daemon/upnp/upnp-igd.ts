// PortMapper over a UPnP IGD gateway (IGDv1 and IGDv2), using the SSDP search and
// the SOAP Device of @runonflux/nat-upnp. We drive discovery ourselves instead of
// its Client so that we control the timeout and cancellation, search once rather
// than before every action, and know in which step a failure happened: errors
// are classified by step and by the UPnP errorCode of the SOAP fault, never by
// message text.
import { isIPv4 } from 'node:net';
import { Device, Ssdp } from '@runonflux/nat-upnp';
import type { Logger } from 'pino';
import type { Clock } from '../sys/clock.js';
import {
  checkMapArgs,
  UpnpError,
  type GatewayInfo,
  type PortMapper,
  type PortMapping,
  type PortProtocol,
  type UpnpErrorCode,
} from './port-mapper.js';
import { parseSoapFault, UPNP_ERR, type SoapFault } from './soap-fault.js';
import { raceSignal } from '../sys/abort.js';

// IGDv2 gateways answer a search for the v1 device type too (backward compatible).
const IGD_SEARCH_TARGET = 'urn:schemas-upnp-org:device:InternetGatewayDevice:1';

export const DEFAULT_DISCOVERY_TIMEOUT_MS = 2000;
/** The most mappings read when looking for our stale ones (a home router holds a few dozen). */
const MAX_LISTED_MAPPINGS = 256;

export interface UpnpIgdDeps {
  clock: Clock;
  log: Pick<Logger, 'debug' | 'warn'>;
}

export interface UpnpIgdOptions {
  /** How long to wait for an SSDP answer before RN_UPNP_NO_GATEWAY. */
  discoveryTimeoutMs: number;
  /** NewPortMappingDescription, shown in the gateway's mapping list. */
  description: string;
  /** Skips the SSDP search and uses this gateway (tests against a fake gateway on loopback). */
  testOnlyGateway?: { location: string; internalIp: string };
}

interface Gateway {
  device: Device;
  info: GatewayInfo;
}

type SoapBody = Record<string, unknown>;

export class UpnpIgd implements PortMapper {
  private gateway: Gateway | undefined;

  constructor(
    private readonly deps: UpnpIgdDeps,
    private readonly options: UpnpIgdOptions = { discoveryTimeoutMs: DEFAULT_DISCOVERY_TIMEOUT_MS, description: 'resilnet' },
  ) {}

  async discover({ signal }: { signal: AbortSignal }): Promise<GatewayInfo> {
    this.gateway = undefined;
    signal.throwIfAborted();
    const { location, internalIp } = this.options.testOnlyGateway ?? (await this.search(signal));
    const device = new Device(location);
    let serviceType: string;
    try {
      serviceType = (await raceSignal(device.getService(device.services), signal)).service;
    } catch (err) {
      signal.throwIfAborted();
      throw new UpnpError(
        'RN_UPNP_GATEWAY_UNSUPPORTED',
        `UPnP gateway unusable: ${location} (its description could not be read or offers no WANIPConnection/WANPPPConnection service). Check the router's UPnP settings.`,
        { cause: err },
      );
    }
    const info: GatewayInfo = { location, serviceType, internalIp };
    this.gateway = { device, info };
    this.deps.log.debug({ remote: location, serviceType, internalIp }, 'upnp gateway found');
    return info;
  }

  async externalIp({ signal }: { signal: AbortSignal }): Promise<string> {
    const body = await this.run('GetExternalIPAddress', [], 'RN_UPNP_EXTERNAL_IP_FAILED', signal);
    const ip = textOf(body.NewExternalIPAddress);
    if (ip === undefined || !isIPv4(ip) || ip === '0.0.0.0') {
      throw new UpnpError(
        'RN_UPNP_EXTERNAL_IP_FAILED',
        `UPnP gateway gave no usable external address: ${this.where()} (got ${JSON.stringify(ip ?? null)}). The gateway may not be connected to its uplink yet.`,
      );
    }
    return ip;
  }

  async map(internalPort: number, protocol: PortProtocol, leaseSec: number, { signal, externalPort = internalPort }: { signal: AbortSignal; externalPort?: number }): Promise<PortMapping> {
    checkMapArgs(internalPort, protocol, leaseSec);
    checkMapArgs(externalPort, protocol);
    const gw = await this.gatewayFor(signal);
    const internalIp = gw.info.internalIp;
    const add = (lease: number): Promise<SoapBody> =>
      this.run(
        'AddPortMapping',
        [
          ['NewRemoteHost', ''],
          ['NewExternalPort', externalPort],
          ['NewProtocol', protocol],
          ['NewInternalPort', internalPort],
          ['NewInternalClient', internalIp],
          ['NewEnabled', 1],
          ['NewPortMappingDescription', this.options.description],
          ['NewLeaseDuration', lease],
        ],
        'RN_UPNP_MAP_FAILED',
        signal,
        { port: externalPort, protocol },
      );
    let requestedSec = leaseSec;
    try {
      await add(leaseSec);
    } catch (err) {
      // Some IGDv1 routers accept only permanent mappings; we remove ours at stop anyway.
      if (!(err instanceof UpnpError) || err.details?.upnpErrorCode !== UPNP_ERR.onlyPermanentLeasesSupported) throw err;
      requestedSec = 0;
      await add(0);
    }
    const grantedSec = await this.grantedLeaseSec(externalPort, protocol, signal);
    return { protocol, internalPort, externalPort, internalIp, leaseSec: grantedSec ?? requestedSec };
  }

  async ownMappings({ signal }: { signal: AbortSignal }): Promise<{ externalPort: number; protocol: PortProtocol }[]> {
    const gw = await this.gatewayFor(signal);
    const out: { externalPort: number; protocol: PortProtocol }[] = [];
    // GetGenericPortMappingEntry by index until the gateway says the index is past the end (713).
    for (let index = 0; index < MAX_LISTED_MAPPINGS; index++) {
      let body: SoapBody;
      try {
        body = await this.run('GetGenericPortMappingEntry', [['NewPortMappingIndex', index]], 'RN_UPNP_MAP_FAILED', signal);
      } catch (err) {
        if (err instanceof UpnpError && err.details?.upnpErrorCode === UPNP_ERR.specifiedArrayIndexInvalid) break;
        throw err;
      }
      const port = Number(textOf(body.NewExternalPort));
      const protocol = textOf(body.NewProtocol);
      if (textOf(body.NewInternalClient) !== gw.info.internalIp || textOf(body.NewPortMappingDescription) !== this.options.description) continue;
      if (Number.isInteger(port) && (protocol === 'UDP' || protocol === 'TCP')) out.push({ externalPort: port, protocol });
    }
    return out;
  }

  async unmap(port: number, protocol: PortProtocol, { signal }: { signal: AbortSignal }): Promise<void> {
    checkMapArgs(port, protocol);
    try {
      await this.run(
        'DeletePortMapping',
        [
          ['NewRemoteHost', ''],
          ['NewExternalPort', port],
          ['NewProtocol', protocol],
        ],
        'RN_UPNP_UNMAP_FAILED',
        signal,
        { port, protocol },
      );
    } catch (err) {
      if (err instanceof UpnpError && err.details?.upnpErrorCode === UPNP_ERR.noSuchEntry) return;
      throw err;
    }
  }

  /** The lease the gateway reports for our mapping; undefined when it will not say. */
  private async grantedLeaseSec(port: number, protocol: PortProtocol, signal: AbortSignal): Promise<number | undefined> {
    try {
      const body = await this.run(
        'GetSpecificPortMappingEntry',
        [
          ['NewRemoteHost', ''],
          ['NewExternalPort', port],
          ['NewProtocol', protocol],
        ],
        'RN_UPNP_MAP_FAILED',
        signal,
        { port, protocol },
      );
      const lease = Number(textOf(body.NewLeaseDuration));
      return Number.isInteger(lease) && lease >= 0 ? lease : undefined;
    } catch (err) {
      signal.throwIfAborted();
      this.deps.log.debug({ err, port, protocol }, 'upnp gateway did not report the lease');
      return undefined;
    }
  }

  private async gatewayFor(signal: AbortSignal): Promise<Gateway> {
    if (!this.gateway) await this.discover({ signal });
    return this.gateway!;
  }

  private where(): string {
    return this.gateway?.info.location ?? 'no gateway';
  }

  /**
   * One SOAP action; returns the `<ActionResponse>` element's children. Failures
   * become `failCode` (with the UPnP errorCode in details) when the gateway sent a
   * fault, and RN_UPNP_GATEWAY_UNREACHABLE when it did not answer at all.
   */
  private async run(
    action: string,
    args: (string | number)[][],
    failCode: UpnpErrorCode,
    signal: AbortSignal,
    details: { port?: number; protocol?: PortProtocol } = {},
  ): Promise<SoapBody> {
    const gw = await this.gatewayFor(signal);
    let body: unknown;
    try {
      body = await raceSignal(gw.device.run(action, args), signal);
    } catch (err) {
      signal.throwIfAborted();
      throw this.classify(action, err, failCode, details);
    }
    const response = isRecord(body) ? body[`${action}Response`] : undefined;
    if (response === undefined) {
      throw new UpnpError(failCode, `UPnP ${action} failed: ${gw.info.location} (reply has no ${action}Response).`, {
        details: { ...details },
      });
    }
    // An empty element parses as '' (e.g. <AddPortMappingResponse/>).
    return isRecord(response) ? response : {};
  }

  private classify(action: string, err: unknown, failCode: UpnpErrorCode, details: { port?: number; protocol?: PortProtocol }): UpnpError {
    const location = this.where();
    const httpStatus = axiosStatus(err);
    const fault: SoapFault | undefined = httpStatus === undefined ? undefined : parseSoapFault(axiosBody(err));
    if (httpStatus === undefined) {
      // No HTTP answer (connection refused, reset, description gone): look again next time.
      this.gateway = undefined;
      return new UpnpError(
        'RN_UPNP_GATEWAY_UNREACHABLE',
        `UPnP ${action} failed: ${location} did not answer. The gateway will be searched for again.`,
        { cause: err, details: { ...details } },
      );
    }
    const what = details.port === undefined ? '' : ` ${details.protocol ?? ''} ${details.port}`;
    const faultText = fault ? `UPnP error ${fault.upnpErrorCode} ${fault.errorDescription}` : `HTTP ${httpStatus}`;
    const allDetails = { ...details, httpStatus, ...(fault ? { upnpErrorCode: fault.upnpErrorCode } : {}) };
    if (
      failCode === 'RN_UPNP_MAP_FAILED' &&
      (fault?.upnpErrorCode === UPNP_ERR.conflictInMappingEntry || fault?.upnpErrorCode === UPNP_ERR.conflictWithOtherMechanisms)
    ) {
      return new UpnpError(
        'RN_UPNP_PORT_CONFLICT',
        `UPnP port mapping refused:${what} on ${location} (${faultText}). Another host holds this port on the gateway; choose another underlay.port or free it on the router.`,
        { cause: err, details: allDetails },
      );
    }
    return new UpnpError(failCode, `UPnP ${action} failed:${what} on ${location} (${faultText}). ${nextStep(fault?.upnpErrorCode)}`, {
      cause: err,
      details: allDetails,
    });
  }

  /** SSDP search on every interface; resolves with the first answer that names a description URL. */
  private async search(signal: AbortSignal): Promise<{ location: string; internalIp: string }> {
    const ssdp = new Ssdp();
    guardSocketErrors(ssdp, this.deps.log);
    const emitter = ssdp.search(IGD_SEARCH_TARGET);
    try {
      return await new Promise((resolve, reject) => {
        const timeoutMs = this.options.discoveryTimeoutMs;
        const onAbort = (): void => {
          cancelTimer();
          reject(signal.reason);
        };
        const cancelTimer = this.deps.clock.setTimeout(() => {
          signal.removeEventListener('abort', onAbort);
          reject(
            new UpnpError(
              'RN_UPNP_NO_GATEWAY',
              `no UPnP gateway answered: SSDP search for an InternetGatewayDevice (no reply within ${timeoutMs} ms). Enable UPnP on the router, or set upnp.enabled = false in resilnet.toml.`,
            ),
          );
        }, timeoutMs);
        signal.addEventListener('abort', onAbort, { once: true });
        emitter.on('device', (headers: Record<string, string>, address: string) => {
          const location = headers.location;
          if (location === undefined || !URL.canParse(location)) return;
          cancelTimer();
          signal.removeEventListener('abort', onAbort);
          resolve({ location, internalIp: address });
        });
      });
    } finally {
      emitter.emit('end');
      ssdp.close();
    }
  }
}

function nextStep(upnpErrorCode: number | undefined): string {
  switch (upnpErrorCode) {
    case UPNP_ERR.notAuthorized:
      return 'The gateway does not allow this host to map this port; check its UPnP access rules.';
    case UPNP_ERR.actionFailed:
      return 'The gateway could not install the rule; check its firewall (miniupnpd: the nftables chains must exist).';
    case UPNP_ERR.noPortMapsAvailable:
      return "The gateway's mapping table is full; remove unused mappings on the router.";
    default:
      return 'Check the UPnP settings of the router.';
  }
}

// The library's SSDP sockets handle only their first error (during bind); a later
// send error on an unusable interface would be an unhandled 'error' event and end
// the daemon. A listener of our own keeps those non-fatal.
function guardSocketErrors(ssdp: Ssdp, log: Pick<Logger, 'debug'>): void {
  const sockets: unknown = (ssdp as unknown as { sockets?: unknown }).sockets;
  if (!Array.isArray(sockets)) return;
  for (const socket of sockets) {
    if (isRecord(socket) && typeof socket.on === 'function') {
      (socket.on as (ev: string, fn: (err: Error) => void) => void).call(socket, 'error', (err: Error) =>
        log.debug({ err }, 'ssdp socket error'),
      );
    }
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

// axios (inside the library) marks its errors with isAxiosError; a `response`
// means the gateway answered with an HTTP error status (a SOAP fault is 500).
function axiosStatus(err: unknown): number | undefined {
  if (!isRecord(err) || err.isAxiosError !== true || !isRecord(err.response)) return undefined;
  const status = err.response.status;
  return typeof status === 'number' ? status : undefined;
}

function axiosBody(err: unknown): unknown {
  return isRecord(err) && isRecord(err.response) ? err.response.data : undefined;
}

/** XML text content; the library's parser turns numeric text into numbers. */
function textOf(value: unknown): string | undefined {
  if (typeof value === 'string') return value.trim();
  if (typeof value === 'number') return String(value);
  return undefined;
}
