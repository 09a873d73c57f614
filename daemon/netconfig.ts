// Where the node's signed network config comes from at start, and the rule for
// replacing it later: only a config whose CA signature verifies, and only a
// newer version. Sources in order: the peer DB cache, DIR/network-config.json
// (written by `resilnet register`), then the registry (caller retries).
import { existsSync, readFileSync } from 'node:fs';
import { ResilnetError } from '../config/errors.js';
import type { NetworkConfig, SignedNetworkConfig } from '../config/network-config.js';
import { verifyNetworkConfig } from '../pki/network-config.js';

export type NetworkConfigOrigin = 'peer-db' | 'file' | 'registry' | `peer ${string}`;

export interface HeldNetworkConfig {
  signed: SignedNetworkConfig;
  config: NetworkConfig;
  origin: NetworkConfigOrigin;
}

export interface RefusedNetworkConfig {
  origin: NetworkConfigOrigin;
  code: string;
  message: string;
}

/**
 * Verifies each candidate and returns the newest good one, with every refusal
 * (bad signature, bad schema) so the caller can log it. Pure apart from crypto.
 */
export function pickNetworkConfig(
  candidates: Array<{ signed: SignedNetworkConfig; origin: NetworkConfigOrigin }>,
  caPem: string,
): { best: HeldNetworkConfig | undefined; refused: RefusedNetworkConfig[] } {
  let best: HeldNetworkConfig | undefined;
  const refused: RefusedNetworkConfig[] = [];
  for (const c of candidates) {
    let config: NetworkConfig;
    try {
      config = verifyNetworkConfig(c.signed, caPem);
    } catch (err) {
      const e = err as { code?: string; message?: string };
      refused.push({ origin: c.origin, code: e.code ?? 'RN_PKI_CONFIG_SIGNATURE', message: e.message ?? String(err) });
      continue;
    }
    if (!best || config.version > best.config.version) best = { signed: c.signed, config, origin: c.origin };
  }
  return { best, refused };
}

/** Reads DIR/network-config.json if present; a file that is not JSON is an error with its path. */
export function readSignedConfigFile(path: string): SignedNetworkConfig | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as SignedNetworkConfig;
  } catch (err) {
    throw new ResilnetError('RN_CONFIG_INVALID', `cannot read the network config ${path} (${(err as Error).message}). Delete it; the daemon then fetches one from the registry.`, { cause: err });
  }
}

/** Whether `next` may replace `current`: verified already, so only the version decides. */
export function isNewerConfig(current: NetworkConfig | undefined, next: NetworkConfig): boolean {
  return current === undefined || next.version > current.version;
}
