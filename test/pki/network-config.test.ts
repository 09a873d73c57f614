import test from 'ava';
import type { NetworkConfig } from '../../config/network-config.js';
import { signBytes } from '../../pki/identity.js';
import { signNetworkConfig, verifyNetworkConfig } from '../../pki/network-config.js';
import { makeCa } from './pki-fixture.js';
import { errorCode } from '../fixtures/error-code.js';

const config: NetworkConfig = {
  version: 3,
  network_prefix: 'fd5e:1::/48',
  node_prefix_length: 64,
  babel: { hello_interval: 4 },
  client_count: 4,
  max_clients: 10,
  tunnel_refresh: 300,
  cipher: 'AES-256-GCM',
  crl: '',
  revoked_serials: ['1a'],
  min_protocol: 1,
  registry_urls: ['https://127.0.0.1:8443'],
  issued_at: '2026-01-15T12:00:00.000Z',
};

test('a signed network config verifies and round-trips', async (t) => {
  const ca = await makeCa();
  const signed = signNetworkConfig(config, ca.keyObject);
  t.deepEqual(verifyNetworkConfig(signed, ca.certPem), config);
  t.deepEqual(verifyNetworkConfig(signed, ca.certPem), JSON.parse(signed.config));
});

test('a tampered document is rejected', async (t) => {
  const ca = await makeCa();
  const signed = signNetworkConfig(config, ca.keyObject);
  const tampered = { ...signed, config: signed.config.replace('"client_count":4', '"client_count":40') };
  t.not(tampered.config, signed.config);
  t.is(errorCode(() => verifyNetworkConfig(tampered, ca.certPem)), 'RN_PKI_CONFIG_SIGNATURE');
  // Whitespace changes the signed bytes too: nobody re-serialises.
  t.is(errorCode(() => verifyNetworkConfig({ ...signed, config: `${signed.config} ` }, ca.certPem)), 'RN_PKI_CONFIG_SIGNATURE');
  const sig = Buffer.from(signed.signature, 'base64');
  sig[sig.length - 1]! ^= 1;
  t.is(errorCode(() => verifyNetworkConfig({ ...signed, signature: sig.toString('base64') }, ca.certPem)), 'RN_PKI_CONFIG_SIGNATURE');
});

test('a config signed by another CA is rejected', async (t) => {
  const ca = await makeCa();
  const other = await makeCa();
  t.is(errorCode(() => verifyNetworkConfig(signNetworkConfig(config, other.keyObject), ca.certPem)), 'RN_PKI_CONFIG_SIGNATURE');
});

test('a correctly signed but invalid document is RN_CONFIG_INVALID', async (t) => {
  const ca = await makeCa();
  const text = JSON.stringify({ ...config, client_count: -1 });
  const signed = { config: text, signature: signBytes(ca.keyObject, Buffer.from(text)).toString('base64') };
  t.is(errorCode(() => verifyNetworkConfig(signed, ca.certPem)), 'RN_CONFIG_INVALID');
  const notJson = { config: '{nope', signature: signBytes(ca.keyObject, Buffer.from('{nope')).toString('base64') };
  t.is(errorCode(() => verifyNetworkConfig(notJson, ca.certPem)), 'RN_CONFIG_INVALID');
  t.is(errorCode(() => verifyNetworkConfig({ config: 'x', signature: '!!' } as never, ca.certPem)), 'RN_CONFIG_INVALID');
});
