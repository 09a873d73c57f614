// The registry's HTTPS API: paths and the zod schema of every request and
// response body. The server validates requests with these, the client
// validates responses with them. docs/registry-api.md describes them for humans.
import { isIP } from 'node:net';
import * as z from 'zod';
import { canonicalPrefix } from '../config/ipv6.js';
import { lazySchema } from '../config/lazy-schema.js';
import { signedNetworkConfigSchema } from '../config/network-config.js';

export const REGISTRY_API_PATHS = {
  health: '/v1/health',
  ca: '/v1/ca',
  enrol: '/v1/enrol',
  renew: '/v1/renew',
  networkConfig: '/v1/network-config',
  crl: '/v1/crl',
  bootstrap: '/v1/bootstrap',
  heartbeat: '/v1/heartbeat',
} as const;

/** Largest request body the registry reads; larger ones get 413. */
export const MAX_REQUEST_BYTES = 64 * 1024;
export const MAX_BOOTSTRAP_PEERS = 64;

const prefixText = lazySchema(() => z.string().max(64).transform((text, ctx) => {
  try {
    return canonicalPrefix(text);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
}));

const pem = (label: string) =>
  z.string().max(16 * 1024).refine((s) => s.includes(`-----BEGIN ${label}-----`), `expected a PEM "${label}"`);

/** "IP:PORT" with IPv6 in brackets ("[fd00::1]:1194"), or "IP" (port taken from context). */
export function parseEndpoint(text: string): { ip: string; port: number | undefined } | undefined {
  const bracket = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(text);
  if (bracket) {
    const ip = bracket[1]!;
    if (isIP(ip) !== 6) return undefined;
    return checkPort(ip, bracket[2]);
  }
  if (isIP(text)) return { ip: text, port: undefined };
  const v4 = /^([0-9.]+):(\d{1,5})$/.exec(text);
  if (v4 && isIP(v4[1]!) === 4) return checkPort(v4[1]!, v4[2]);
  return undefined;
}

function checkPort(ip: string, portText: string | undefined): { ip: string; port: number | undefined } | undefined {
  if (portText === undefined) return { ip, port: undefined };
  const port = Number(portText);
  return port >= 1 && port <= 65535 ? { ip, port } : undefined;
}

export function formatEndpoint(ip: string, port: number): string {
  return isIP(ip) === 6 ? `[${ip}]:${port}` : `${ip}:${port}`;
}

const endpointText = lazySchema(() => z.string().max(64).refine((s) => parseEndpoint(s) !== undefined, 'expected "IP", "IPv4:PORT" or "[IPv6]:PORT"'));
const endpointWithPort = lazySchema(() => z.string().max(64).refine((s) => parseEndpoint(s)?.port !== undefined, 'expected "IPv4:PORT" or "[IPv6]:PORT"'));

export const errorBodySchema = lazySchema(() => z.object({
  error: z.object({ code: z.string(), message: z.string(), hint: z.string().optional() }),
}));
export type ErrorBody = z.infer<typeof errorBodySchema>;

export const healthResponseSchema = lazySchema(() => z.object({ ok: z.literal(true), network_prefix: z.string(), network_config_version: z.number().int() }));
export type HealthResponse = z.infer<typeof healthResponseSchema>;

export const caResponseSchema = lazySchema(() => z.object({ ca: pem('CERTIFICATE'), fingerprint: z.string() }));
export type CaResponse = z.infer<typeof caResponseSchema>;

export const enrolRequestSchema = lazySchema(() => z.strictObject({
  token: z.string().min(1).max(256),
  csr: pem('CERTIFICATE REQUEST'),
}));
export type EnrolRequest = z.infer<typeof enrolRequestSchema>;

export const enrolResponseSchema = lazySchema(() => z.object({
  certificate: pem('CERTIFICATE'),
  ca: pem('CERTIFICATE'),
  prefix: prefixText,
  network_config: signedNetworkConfigSchema,
}));
export type EnrolResponse = z.infer<typeof enrolResponseSchema>;

export const renewRequestSchema = lazySchema(() => z.strictObject({ csr: pem('CERTIFICATE REQUEST') }));
export type RenewRequest = z.infer<typeof renewRequestSchema>;
export const renewResponseSchema = lazySchema(() => z.object({ certificate: pem('CERTIFICATE') }));
export type RenewResponse = z.infer<typeof renewResponseSchema>;

export const crlResponseSchema = lazySchema(() => z.object({ crl: pem('X509 CRL') }));
export type CrlResponse = z.infer<typeof crlResponseSchema>;

export const bootstrapQuerySchema = lazySchema(() => z.object({
  count: z.coerce.number().int().min(1).max(MAX_BOOTSTRAP_PEERS).default(8),
}));

export const bootstrapPeerSchema = lazySchema(() => z.object({
  prefix: prefixText,
  addresses: z.array(endpointWithPort),
  last_seen: z.string().datetime(),
  /**
   * The peer's NAT class from its last heartbeat (optional: older registries leave it out, older
   * daemons ignore it). A class this version does not know reads as absent, not as a bad answer.
   */
  nat_class: z.enum(NAT_CLASSES).optional().catch(undefined),
}));
export type BootstrapPeer = z.infer<typeof bootstrapPeerSchema>;
export const bootstrapResponseSchema = lazySchema(() => z.object({ peers: z.array(bootstrapPeerSchema) }));
export type BootstrapResponse = z.infer<typeof bootstrapResponseSchema>;

export const ADDRESS_KINDS = ['public', 'internal', 'upnp', 'configured'] as const;

/**
 * How a node is reachable from outside, as the node classifies itself: a public
 * address, a UPnP mapping, a NAT with endpoint-independent mapping, one with
 * address-and-port-dependent mapping, or not known.
 */
export const NAT_CLASSES = ['public', 'upnp', 'eim', 'apdm', 'unknown'] as const;
export type NatClass = (typeof NAT_CLASSES)[number];

export const heartbeatSchema = lazySchema(() => z.strictObject({
  /** The node's peer-protocol UDP port (its underlay.port). */
  port: z.number().int().min(1).max(65535),
  addresses: z
    .array(z.strictObject({ address: endpointText, kind: z.enum(ADDRESS_KINDS) }))
    .max(32)
    .default([]),
  tunnels: z
    .array(
      z.strictObject({
        peer: prefixText,
        role: z.enum(['client', 'server']),
        iface: z.string().max(15).optional(),
        rx_bytes: z.number().int().min(0),
        tx_bytes: z.number().int().min(0),
        rtt_ms: z.number().min(0).nullable().default(null),
      }),
    )
    .max(512)
    .default([]),
  network_config_version: z.number().int().min(0).default(0),
  protocol_version: z.number().int().min(1).default(1),
  /** The node's NAT class (daemon/nat/classify.ts); absent from older nodes: stored as null. */
  natClass: z.enum(NAT_CLASSES).optional(),
  counters: z.record(z.string().max(64), z.number()).default({})
    .refine((r) => Object.keys(r).length <= 64, 'at most 64 counters'),
}));
export type Heartbeat = z.input<typeof heartbeatSchema>;
export type ParsedHeartbeat = z.output<typeof heartbeatSchema>;

export const heartbeatReplySchema = lazySchema(() => z.object({
  /** The source IP the registry saw the heartbeat come from. */
  seen_address: z.string(),
  network_config_version: z.number().int(),
}));
export type HeartbeatReply = z.infer<typeof heartbeatReplySchema>;
