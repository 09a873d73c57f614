// registry.toml: the registry's own settings, written by `registry init` and
// read by `registry serve`. Parsed once into a frozen, complete object.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml';
import { z } from 'zod';
import { ConfigError } from '../config/errors.js';
import { metricsListenField } from '../config/metrics-listen.js';
import { prefixText } from '../config/prefix-schema.js';
import { normalizeFingerprint } from '../pki/identity.js';

export const DEFAULT_LISTEN = '[::]:8443';
/** Loopback only: its own plain-HTTP listener without authentication (docs/metrics.md). */
export const DEFAULT_METRICS_LISTEN = '127.0.0.1:9328';

/** One entry of [status] admin_fingerprints: refused at load, so a typo cannot lock the admin out unnoticed. */
const adminFingerprint = z.string().superRefine((text, ctx) => {
  try {
    normalizeFingerprint(text);
  } catch {
    ctx.addIssue({
      code: 'custom',
      message: `"${text}" is not a certificate fingerprint: write "sha256:" and the 64 hex digits of the admin's client-certificate SHA-256 (colons allowed, as \`openssl x509 -in node.crt -noout -fingerprint -sha256\` prints them)`,
    });
  }
});

export const registryConfigSchema = z.strictObject({
  network: z.strictObject({
    prefix: prefixText.describe('the overlay prefix of the whole network'),
    node_prefix_length: z.number().int().min(1).max(127).describe('length of each node\'s prefix'),
  }),
  certificates: z
    .strictObject({
      days: z.number().int().min(1).max(3650).default(365).describe('lifetime of node certificates, days'),
      renew_window_days: z.number().int().min(0).max(3650).default(30).describe('renewal allowed this many days before expiry'),
      grace_days: z.number().int().min(0).max(365).default(7).describe('renewal still allowed this many days after expiry; then the prefix returns to the pool'),
      crl_days: z.number().int().min(1).max(365).default(7).describe('CRL nextUpdate; re-signed at half of it'),
    })
    .prefault({}),
  http: z
    .strictObject({
      listen: z.string().default(DEFAULT_LISTEN).describe('HOST:PORT the HTTPS API listens on ([::] = all)'),
      urls: z.array(z.string().url()).default([]).describe('URLs nodes use to reach the registry (network config registry_urls); default from listen'),
      request_timeout_sec: z.number().min(1).max(300).default(15).describe('slow clients are cut off after this (headers after at most 10 s)'),
      max_connections_per_address: z.number().int().min(1).max(100_000).default(128).describe('open connections allowed from one client address; more are closed at once'),
    })
    .prefault({}),
  liveness: z
    .strictObject({
      offline_after_sec: z.number().int().min(1).default(900).describe('nodes not heard from this long leave the bootstrap list'),
      purge_interval_sec: z.number().int().min(1).default(60).describe('how often expired prefixes are purged and the CRL refreshed'),
    })
    .prefault({}),
  metrics: z
    .strictObject({
      listen: metricsListenField(DEFAULT_METRICS_LISTEN).describe('IP:PORT of the Prometheus endpoint, plain HTTP ([IPv6]:PORT; "" = off); keep it on loopback or a private address'),
    })
    .prefault({}),
  status: z
    .strictObject({
      admin_fingerprints: z.array(adminFingerprint).default([])
        .describe('client-certificate fingerprints (sha256:HEX) that may open the status page (GET /) from other hosts; the registry host always may'),
    })
    .prefault({}),
});

export type RegistryConfig = z.output<typeof registryConfigSchema>;

export const REGISTRY_FILES = {
  config: 'registry.toml',
  caCert: 'ca.crt',
  caKey: 'ca.key',
  serverCert: 'registry.crt',
  serverKey: 'registry.key',
  db: 'registry.db',
  adminSocket: 'admin.sock',
} as const;

export function registryPath(dir: string, file: keyof typeof REGISTRY_FILES): string {
  return join(dir, REGISTRY_FILES[file]);
}

export function parseRegistryConfig(text: string, path: string): RegistryConfig {
  let raw: unknown;
  try {
    raw = parseToml(text);
  } catch (err) {
    throw new ConfigError(`config invalid at ${path}: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
  const result = registryConfigSchema.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`);
    throw new ConfigError(`config invalid at ${path}: ${problems.join('; ')}`, { details: { problems } });
  }
  return Object.freeze(result.data);
}

export function loadRegistryConfig(dir: string): RegistryConfig {
  const path = registryPath(dir, 'config');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read ${path} (${(err as NodeJS.ErrnoException).code}). Is --dir a registry created with \`resilnet registry init\`?`, { cause: err });
  }
  return parseRegistryConfig(text, path);
}

/** The commented registry.toml `registry init` writes. */
export function renderRegistryConfig(config: RegistryConfig): string {
  const lines = ['# resilnet registry settings (written by `resilnet registry init`).', '# Restart `resilnet registry serve` after editing.', ''];
  for (const [section, shape] of Object.entries(registryConfigSchema.shape)) {
    lines.push(`[${section}]`);
    const inner = (shape as unknown as { unwrap?: () => z.ZodObject; shape?: Record<string, z.ZodType> });
    const fields = (inner.shape ?? (inner.unwrap?.() as z.ZodObject | undefined)?.shape ?? {}) as Record<string, z.ZodType>;
    const values = (config as unknown as Record<string, Record<string, unknown>>)[section] ?? {};
    for (const [key, value] of Object.entries(values)) {
      const description = fields[key]?.description;
      if (description) lines.push(`# ${description}`);
      lines.push(stringifyToml({ [key]: value }).trim());
    }
    lines.push('');
  }
  return lines.join('\n');
}
