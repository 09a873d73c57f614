// The narrow port-mapping surface the daemon needs from a UPnP IGD gateway.
// The third-party client stays behind it (upnp-igd.ts); the mapping service
// (mapper.ts) and the tests (fake + contract suite) only see this file.
import { ResilnetError } from '../../config/errors.js';

export type PortProtocol = 'UDP' | 'TCP';

/** What discovery found: the gateway and the address it sees us on. */
export interface GatewayInfo {
  /** URL of the gateway's root device description (SSDP LOCATION). */
  location: string;
  /** The WAN connection service used, e.g. `urn:schemas-upnp-org:service:WANIPConnection:2`. */
  serviceType: string;
  /** Our own LAN address the gateway answered on; mappings point at it. */
  internalIp: string;
}

/** A mapping the gateway accepted. The external port equals the internal one unless another was asked for. */
export interface PortMapping {
  protocol: PortProtocol;
  internalPort: number;
  externalPort: number;
  internalIp: string;
  /** Lease the gateway reports (it may shorten the requested one); 0 = permanent. */
  leaseSec: number;
}

export interface PortMapper {
  /** Searches for a gateway afresh (forgets any earlier one). RN_UPNP_NO_GATEWAY when none answers. */
  discover(options: { signal: AbortSignal }): Promise<GatewayInfo>;
  /** The gateway's WAN address as dotted IPv4 text. Discovers first when needed. */
  externalIp(options: { signal: AbortSignal }): Promise<string>;
  /**
   * Maps external `externalPort` (default: `internalPort`) to our internalIp:internalPort for
   * `leaseSec` (1 … 604800). Mapping a port we already hold refreshes its lease.
   */
  map(internalPort: number, protocol: PortProtocol, leaseSec: number, options: { signal: AbortSignal; externalPort?: number }): Promise<PortMapping>;
  /**
   * The gateway's mappings that point at our internal address with our description (e.g. left
   * by a crashed run). Optional: gateways that cannot list are simply not cleaned.
   */
  ownMappings?(options: { signal: AbortSignal }): Promise<{ externalPort: number; protocol: PortProtocol }[]>;
  /** Removes the mapping of external `port`. A mapping that does not exist counts as removed. */
  unmap(port: number, protocol: PortProtocol, options: { signal: AbortSignal }): Promise<void>;
}

/** Every code a PortMapper may throw (listed in docs/errors.md). */
export type UpnpErrorCode =
  | 'RN_UPNP_NO_GATEWAY'
  | 'RN_UPNP_GATEWAY_UNSUPPORTED'
  | 'RN_UPNP_GATEWAY_UNREACHABLE'
  | 'RN_UPNP_EXTERNAL_IP_FAILED'
  | 'RN_UPNP_MAP_FAILED'
  | 'RN_UPNP_PORT_CONFLICT'
  | 'RN_UPNP_UNMAP_FAILED'
  | 'RN_UPNP_BAD_REQUEST';

export interface UpnpErrorDetails {
  /** The UPnP errorCode of a SOAP fault (e.g. 718 ConflictInMappingEntry), when the gateway sent one. */
  upnpErrorCode?: number;
  /** HTTP status of the gateway's reply, when there was one. */
  httpStatus?: number;
  port?: number;
  protocol?: PortProtocol;
  [key: string]: unknown;
}

export class UpnpError extends ResilnetError {
  declare readonly code: UpnpErrorCode;
  declare readonly details: UpnpErrorDetails | undefined;

  constructor(
    code: UpnpErrorCode,
    message: string,
    options: { cause?: unknown; hint?: string; details?: UpnpErrorDetails } = {},
  ) {
    super(code, message, options);
    this.name = 'UpnpError';
  }
}

export function isUpnpError(err: unknown, code?: UpnpErrorCode): err is UpnpError {
  return err instanceof UpnpError && (code === undefined || err.code === code);
}

/** Largest lease IGDv2 allows (7 days). */
export const MAX_LEASE_SEC = 604_800;

/** Argument checks shared by every PortMapper, so bad input fails the same way before any I/O. */
export function checkMapArgs(port: number, protocol: string, leaseSec?: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new UpnpError('RN_UPNP_BAD_REQUEST', `invalid port mapping request: port ${String(port)} (must be an integer 1-65535)`);
  }
  if (protocol !== 'UDP' && protocol !== 'TCP') {
    throw new UpnpError('RN_UPNP_BAD_REQUEST', `invalid port mapping request: protocol ${JSON.stringify(protocol)} (must be "UDP" or "TCP")`);
  }
  if (leaseSec !== undefined && (!Number.isInteger(leaseSec) || leaseSec < 1 || leaseSec > MAX_LEASE_SEC)) {
    throw new UpnpError(
      'RN_UPNP_BAD_REQUEST',
      `invalid port mapping request: lease ${String(leaseSec)} s (must be an integer 1-${MAX_LEASE_SEC})`,
    );
  }
}
