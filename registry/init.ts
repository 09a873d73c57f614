// `resilnet registry init`: creates a network in DIR (CA, store, registry.toml).
// The registry's HTTPS certificate is issued by `serve` for the address it listens on.
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ResilnetError } from '../config/errors.js';
import { canonicalPrefix, parsePrefix } from '../config/ipv6.js';
import { createCa } from '../pki/ca.js';
import { caFingerprint } from '../pki/identity.js';
import { RegistryDb } from './db.js';
import { ensurePrivateDir } from './private-files.js';
import { buildNetworkConfig, parseSetting } from './network-config-build.js';
import { checkLengths, prefixCapacity } from './prefix-alloc.js';
import { registryConfigSchema, registryPath, renderRegistryConfig, type RegistryConfig } from './registry-config.js';

export interface InitOptions {
  dir: string;
  prefix: string;
  nodePrefixLength: number;
  certDays: number;
  renewWindowDays?: number | undefined;
  graceDays?: number | undefined;
  listen?: string | undefined;
  urls?: string[] | undefined;
  /** Initial network-config settings, "KEY=VALUE" as for `config set`. */
  settings?: string[] | undefined;
  nowMs: number;
}

export interface InitResult {
  dir: string;
  network_prefix: string;
  node_prefix_length: number;
  capacity: number;
  ca_fingerprint: string;
  config: RegistryConfig;
  /** File modes init had to tighten (an existing folder open to others). */
  notes: string[];
}

const CA_DAYS = 3650;

export async function initRegistry(opts: InitOptions): Promise<InitResult> {
  const dir = resolve(opts.dir);
  let prefix: string;
  try {
    prefix = canonicalPrefix(opts.prefix);
  } catch (err) {
    throw new ResilnetError('RN_PREFIX_INVALID', `cannot create the network: ${(err as Error).message}`, {
      cause: err,
      hint: 'Give an IPv6 prefix such as --prefix fd5e:1234:5678::/48 (a ULA inside fd00::/8 is usual).',
    });
  }
  const network = parsePrefix(prefix);
  checkLengths(network, opts.nodePrefixLength);
  if (existsSync(registryPath(dir, 'config')) || existsSync(registryPath(dir, 'caKey')) || existsSync(registryPath(dir, 'db'))) {
    throw new ResilnetError('RN_REGISTRY_EXISTS', `refusing to overwrite the registry in ${dir}`, {
      hint: 'Pick another --dir, or remove the old registry first if you really mean to start a new network.',
    });
  }
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    throw new ResilnetError('RN_REGISTRY_EXISTS', `refusing to create a registry in ${dir}: the folder is not empty`, { hint: 'Pick an empty or new --dir.' });
  }
  const parsed = registryConfigSchema.safeParse({
    network: { prefix, node_prefix_length: opts.nodePrefixLength },
    certificates: {
      days: opts.certDays,
      ...(opts.renewWindowDays !== undefined ? { renew_window_days: opts.renewWindowDays } : {}),
      ...(opts.graceDays !== undefined ? { grace_days: opts.graceDays } : {}),
    },
    http: { ...(opts.listen ? { listen: opts.listen } : {}), ...(opts.urls?.length ? { urls: opts.urls } : {}) },
  });
  if (!parsed.success) {
    throw new ResilnetError('RN_CONFIG_INVALID', `cannot create the network: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  const config = parsed.data;
  // Validate the initial settings before anything is written.
  const overrides: Record<string, unknown> = {};
  for (const pair of opts.settings ?? []) {
    const { key, value } = parseSetting(pair);
    overrides[key] = value;
  }
  buildNetworkConfig({
    networkPrefix: prefix, nodePrefixLength: opts.nodePrefixLength, overrides, registryUrls: [], crlPem: '',
    revokedSerials: [], version: 1, issuedAtMs: opts.nowMs,
  });

  const dirNote = ensurePrivateDir(dir);
  const ca = await createCa({ networkPrefix: prefix, notBeforeMs: opts.nowMs - 5 * 60_000, days: CA_DAYS });
  writeFileSync(registryPath(dir, 'caKey'), ca.keyPem, { mode: 0o600, flag: 'wx' });
  writeFileSync(registryPath(dir, 'caCert'), ca.certPem, { mode: 0o644, flag: 'wx' });
  const db = new RegistryDb(registryPath(dir, 'db'));
  try {
    db.replaceSettings(overrides);
  } finally {
    db.close();
  }
  writeFileSync(registryPath(dir, 'config'), renderRegistryConfig(config), { mode: 0o644, flag: 'wx' });
  return {
    dir,
    network_prefix: prefix,
    node_prefix_length: opts.nodePrefixLength,
    capacity: prefixCapacity(network, opts.nodePrefixLength),
    ca_fingerprint: caFingerprint(ca.certPem),
    config,
    notes: dirNote ? [dirNote] : [],
  };
}
