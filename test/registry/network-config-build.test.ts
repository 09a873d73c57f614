import test from 'ava';
import { buildNetworkConfig, parseSetting, sameConfigContent } from '../../registry/network-config-build.js';
import { parseListen } from '../../registry/main.js';
import { errorCode } from '../fixtures/error-code.js';

test('parseSetting types values by key', (t) => {
  t.deepEqual(parseSetting('babel.hello_interval=1'), { key: 'babel.hello_interval', value: 1 });
  t.deepEqual(parseSetting('client_count = 3'), { key: 'client_count', value: 3 });
  t.deepEqual(parseSetting('cipher=AES-256-GCM'), { key: 'cipher', value: 'AES-256-GCM' });
  t.deepEqual(parseSetting('registry_urls=https://a:1, https://b:2'), { key: 'registry_urls', value: ['https://a:1', 'https://b:2'] });
  for (const bad of ['nope', '=1', 'unknown=1', 'client_count=many', 'client_count=', 'cipher=']) {
    t.is(errorCode(() => parseSetting(bad)), 'RN_REGISTRY_SETTING_INVALID', bad);
  }
});

const inputs = {
  networkPrefix: 'fd00:1::/48', nodePrefixLength: 64, overrides: {}, registryUrls: ['https://127.0.0.1:8443'],
  crlPem: '', revokedSerials: ['b', 'a'], version: 1, issuedAtMs: 1_800_000_000_000,
};

test('buildNetworkConfig applies defaults, then overrides, and validates', (t) => {
  const c = buildNetworkConfig({ ...inputs, overrides: { 'babel.hello_interval': 1, client_count: 2 } });
  t.is(c.babel.hello_interval, 1);
  t.is(c.client_count, 2);
  t.is(c.max_clients, 10);
  t.deepEqual(c.revoked_serials, ['a', 'b']);
  t.is(errorCode(() => buildNetworkConfig({ ...inputs, overrides: { 'babel.hello_interval': 0 } })), 'RN_REGISTRY_SETTING_INVALID');
  t.is(errorCode(() => buildNetworkConfig({ ...inputs, overrides: { registry_urls: ['not a url'] } })), 'RN_REGISTRY_SETTING_INVALID');
});

test('sameConfigContent ignores version and issue time only', (t) => {
  const a = buildNetworkConfig(inputs);
  t.true(sameConfigContent(a, buildNetworkConfig({ ...inputs, version: 7, issuedAtMs: 1 })));
  t.false(sameConfigContent(a, buildNetworkConfig({ ...inputs, revokedSerials: ['c'] })));
});

test('parseListen', (t) => {
  t.deepEqual(parseListen('0.0.0.0:8443'), { host: '0.0.0.0', port: 8443 });
  t.deepEqual(parseListen('[::]:8443'), { host: '::', port: 8443 });
  t.deepEqual(parseListen('[fd00::1]:0'), { host: 'fd00::1', port: 0 });
  t.deepEqual(parseListen(':9000'), { host: '::', port: 9000 });
  t.deepEqual(parseListen('8443'), { host: '::', port: 8443 });
  t.deepEqual(parseListen('localhost:1'), { host: 'localhost', port: 1 });
  for (const bad of ['', 'host', '1.2.3.4:99999', 'fd00::1:80', '[::1]', 'a:b']) t.is(errorCode(() => parseListen(bad)), 'RN_REGISTRY_LISTEN_INVALID', bad);
});
