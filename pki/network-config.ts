// Signing and verifying the network config. The signature covers the exact
// UTF-8 bytes of the JSON text, so verifiers never re-serialise anything.
import { X509Certificate, type KeyObject } from 'node:crypto';
import { ConfigError, ResilnetError } from '../config/errors.js';
import {
  networkConfigSchema,
  signedNetworkConfigSchema,
  type NetworkConfig,
  type SignedNetworkConfig,
} from '../config/network-config.js';
import { signBytes, verifyBytes } from './identity.js';

export function signNetworkConfig(config: NetworkConfig, caKey: KeyObject | string): SignedNetworkConfig {
  const text = JSON.stringify(networkConfigSchema.parse(config));
  return { config: text, signature: signBytes(caKey, Buffer.from(text, 'utf8')).toString('base64') };
}

/** Checks the CA signature, then the schema. Throws RN_PKI_CONFIG_SIGNATURE / RN_CONFIG_INVALID. */
export function verifyNetworkConfig(signed: SignedNetworkConfig, caPem: string): NetworkConfig {
  const shape = signedNetworkConfigSchema.safeParse(signed);
  if (!shape.success) {
    throw new ConfigError(`signed network config malformed: ${shape.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ')}`);
  }
  let caKey: KeyObject;
  try {
    caKey = new X509Certificate(caPem).publicKey;
  } catch (err) {
    throw new ResilnetError('RN_PKI_CERT_INVALID', `cannot parse CA certificate (${(err as Error).message})`, { cause: err });
  }
  const ok = verifyBytes(caKey, Buffer.from(shape.data.config, 'utf8'), Buffer.from(shape.data.signature, 'base64'));
  if (!ok) {
    throw new ResilnetError('RN_PKI_CONFIG_SIGNATURE', 'network config signature does not match this network\'s CA. Discard it and fetch a fresh one from the registry.');
  }
  let json: unknown;
  try {
    json = JSON.parse(shape.data.config);
  } catch (err) {
    throw new ConfigError(`signed network config is not JSON (${(err as Error).message})`, { cause: err });
  }
  const parsed = networkConfigSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`);
    throw new ConfigError(`network config invalid: ${problems.join('; ')}`, { details: { problems } });
  }
  return parsed.data;
}
