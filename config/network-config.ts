// The network config: one CA-signed, versioned document that the registry issues
// and that nodes cache and pass on to each other. The signature covers the exact
// UTF-8 bytes of `SignedNetworkConfig.config` (a JSON text), so nobody has to
// re-serialise it the same way to verify it. Signing and verifying live in pki/.
import * as z from 'zod';
import { lazySchema } from './lazy-schema.js';
import { prefixText } from './prefix-schema.js';


export const networkConfigSchema = lazySchema(() => z.strictObject({
  version: z.number().int().min(1).describe('increases on every change'),
  network_prefix: prefixText.describe('the overlay prefix of the whole network'),
  node_prefix_length: z.number().int().min(1).max(128),
  babel: z.strictObject({
    hello_interval: z.number().min(0.1).max(60).describe('babeld hello interval, seconds'),
  }),
  client_count: z.number().int().min(0).max(64).describe('outgoing tunnels each node keeps'),
  max_clients: z.number().int().min(0).max(256).describe('incoming tunnels each node accepts'),
  tunnel_refresh: z.number().min(1).max(86400).describe('seconds between tunnel re-planning'),
  cipher: z.string().min(1).describe('openvpn --data-ciphers list'),
  crl: z.string().describe('CA-signed CRL, PEM "X509 CRL"'),
  revoked_serials: z.array(z.string().regex(/^[0-9a-f]+$/)).describe('hex serials in the CRL'),
  min_protocol: z.number().int().min(1),
  registry_urls: z.array(z.string().url()),
  issued_at: z.string().datetime(),
}));

export type NetworkConfig = z.infer<typeof networkConfigSchema>;

/** Keys an admin may change with `registry config set KEY=VALUE`. */
export const NETWORK_CONFIG_SETTABLE = [
  'babel.hello_interval',
  'client_count',
  'max_clients',
  'tunnel_refresh',
  'cipher',
  'min_protocol',
  'registry_urls',
] as const;

export const networkConfigDefaults = {
  babel: { hello_interval: 4 },
  client_count: 4,
  max_clients: 10,
  tunnel_refresh: 300,
  cipher: 'AES-256-GCM:AES-128-GCM:CHACHA20-POLY1305',
  min_protocol: 1,
} as const;

export const signedNetworkConfigSchema = lazySchema(() => z.strictObject({
  config: z.string().min(2).max(256 * 1024),
  signature: z.string().regex(/^[A-Za-z0-9+/]+=*$/, 'base64'),
}));

export type SignedNetworkConfig = z.infer<typeof signedNetworkConfigSchema>;
