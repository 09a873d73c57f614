// Building the network config (pure): defaults, then the admin's overrides
// (`registry config set KEY=VALUE`), then what the registry owns itself (prefix,
// CRL, registry URLs, version). Validated with the shared schema.
import { ResilnetError } from '../config/errors.js';
import {
  NETWORK_CONFIG_SETTABLE,
  networkConfigDefaults,
  networkConfigSchema,
  type NetworkConfig,
} from '../config/network-config.js';

export type SettableKey = (typeof NETWORK_CONFIG_SETTABLE)[number];
export type Overrides = Partial<Record<SettableKey, unknown>>;

const NUMERIC: ReadonlySet<string> = new Set(['babel.hello_interval', 'client_count', 'max_clients', 'tunnel_refresh', 'min_protocol']);

function settingError(message: string): ResilnetError {
  return new ResilnetError('RN_REGISTRY_SETTING_INVALID', message, {
    hint: `Settable keys: ${NETWORK_CONFIG_SETTABLE.join(', ')}. Example: resilnet registry config set --dir DIR babel.hello_interval=1`,
  });
}

/** "KEY=VALUE" → a typed override. Numbers for numeric keys, a comma list for registry_urls. */
export function parseSetting(pair: string): { key: SettableKey; value: unknown } {
  const eq = pair.indexOf('=');
  if (eq <= 0) throw settingError(`invalid setting "${pair}": expected KEY=VALUE`);
  const key = pair.slice(0, eq).trim();
  const text = pair.slice(eq + 1).trim();
  if (!(NETWORK_CONFIG_SETTABLE as readonly string[]).includes(key)) throw settingError(`unknown setting "${key}"`);
  if (NUMERIC.has(key)) {
    const n = Number(text);
    if (text === '' || !Number.isFinite(n)) throw settingError(`invalid value for ${key}: "${text}" is not a number`);
    return { key: key as SettableKey, value: n };
  }
  if (key === 'registry_urls') {
    return { key, value: text.split(',').map((s) => s.trim()).filter((s) => s !== '') };
  }
  if (text === '') throw settingError(`invalid value for ${key}: empty`);
  return { key: key as SettableKey, value: text };
}

export interface NetworkConfigInputs {
  networkPrefix: string;
  nodePrefixLength: number;
  overrides: Overrides;
  registryUrls: string[];
  crlPem: string;
  revokedSerials: string[];
  version: number;
  issuedAtMs: number;
}

export function buildNetworkConfig(inputs: NetworkConfigInputs): NetworkConfig {
  const base: Record<string, unknown> = {
    version: inputs.version,
    network_prefix: inputs.networkPrefix,
    node_prefix_length: inputs.nodePrefixLength,
    babel: { ...networkConfigDefaults.babel },
    client_count: networkConfigDefaults.client_count,
    max_clients: networkConfigDefaults.max_clients,
    tunnel_refresh: networkConfigDefaults.tunnel_refresh,
    cipher: networkConfigDefaults.cipher,
    crl: inputs.crlPem,
    revoked_serials: [...inputs.revokedSerials].sort(),
    min_protocol: networkConfigDefaults.min_protocol,
    registry_urls: inputs.registryUrls,
    issued_at: new Date(inputs.issuedAtMs).toISOString(),
  };
  for (const [key, value] of Object.entries(inputs.overrides)) {
    const [head, tail] = key.split('.') as [string, string | undefined];
    if (tail === undefined) base[head] = value;
    else base[head] = { ...(base[head] as Record<string, unknown>), [tail]: value };
  }
  const parsed = networkConfigSchema.safeParse(base);
  if (!parsed.success) {
    throw settingError(`network config would be invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  return parsed.data;
}

/** True when two configs differ only in version and issue time. */
export function sameConfigContent(a: NetworkConfig, b: NetworkConfig): boolean {
  const strip = ({ version: _v, issued_at: _i, ...rest }: NetworkConfig) => JSON.stringify(rest);
  return strip(a) === strip(b);
}
