import test from 'ava';
import { metricsAddress, metricsListenProblem, parseMetricsListen } from '../../config/metrics-listen.js';
import { parseNodeConfig } from '../../config/node-config.js';
import { parseRegistryConfig } from '../../registry/registry-config.js';

const good: Array<{ text: string; want: { host: string; port: number } | null }> = [
  { text: '127.0.0.1:9327', want: { host: '127.0.0.1', port: 9327 } },
  { text: '[::1]:9327', want: { host: '::1', port: 9327 } },
  { text: '[fd00::5]:0', want: { host: 'fd00::5', port: 0 } },
  { text: '0.0.0.0:65535', want: { host: '0.0.0.0', port: 65535 } },
  { text: '', want: null },
];
for (const { text, want } of good) {
  test(`listen "${text}" is accepted`, (t) => {
    t.is(metricsListenProblem(text), undefined);
    t.deepEqual(parseMetricsListen(text), want);
  });
}

const bad: Array<{ text: string; want: RegExp }> = [
  { text: 'localhost:9327', want: /not an IP address/ },
  { text: '127.0.0.1', want: /not HOST:PORT/ },
  { text: '::1:9327', want: /not HOST:PORT/ },
  { text: '[127.0.0.1]:9327', want: /only IPv6 addresses go in brackets/ },
  { text: '127.0.0.1:70000', want: /above 65535/ },
  { text: ' 127.0.0.1:9327', want: /not an IP address/ },
  { text: '127.0.0.1:port', want: /not HOST:PORT/ },
];
for (const { text, want } of bad) {
  test(`listen "${text}" is refused with a reason`, (t) => {
    t.regex(metricsListenProblem(text) ?? '', want);
    const err = t.throws(() => parseMetricsListen(text));
    t.is((err as { code?: string }).code, 'RN_CONFIG_INVALID');
  });
}

const minimal = '[registry]\nurl = "https://10.1.0.1:8443"\n';

test('a node serves metrics on loopback 9327 unless told otherwise', (t) => {
  const c = parseNodeConfig(minimal, '/x.toml');
  t.deepEqual(c.metrics, { enabled: true, listen: '127.0.0.1:9327', top_peers: 10 });
  t.deepEqual(metricsAddress(c.metrics), { host: '127.0.0.1', port: 9327 });
});

test('enabled = false or listen = "" turns the node\'s metrics off', (t) => {
  t.is(metricsAddress(parseNodeConfig(`${minimal}[metrics]\nenabled = false\n`, '/x.toml').metrics), null);
  t.is(metricsAddress(parseNodeConfig(`${minimal}[metrics]\nlisten = ""\n`, '/x.toml').metrics), null);
});

test('a bad node metrics address fails the whole file with the key and the reason', (t) => {
  const err = t.throws(() => parseNodeConfig(`${minimal}[metrics]\nlisten = "metrics.example:9327"\n`, '/x.toml'));
  t.regex(err.message, /config invalid at \/x\.toml: metrics\.listen: "metrics\.example" is not an IP address/);
  t.throws(() => parseNodeConfig(`${minimal}[metrics]\ntop_peers = -1\n`, '/x.toml'), { message: /metrics\.top_peers/ });
});

const registryMinimal = '[network]\nprefix = "fd00:1::/48"\nnode_prefix_length = 64\n';

test('the registry serves metrics on loopback 9328 by default; a bad address is refused', (t) => {
  t.is(parseRegistryConfig(registryMinimal, '/r.toml').metrics.listen, '127.0.0.1:9328');
  t.is(parseRegistryConfig(`${registryMinimal}[metrics]\nlisten = ""\n`, '/r.toml').metrics.listen, '');
  t.throws(() => parseRegistryConfig(`${registryMinimal}[metrics]\nlisten = "9328"\n`, '/r.toml'), { message: /metrics\.listen: "9328" is not HOST:PORT/ });
});
