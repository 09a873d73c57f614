// The registry's metrics endpoint on loopback: a real registry (HTTPS API and its
// metrics listener), real enrolments, heartbeats, a renewal and a revocation over
// the API and the service, scraped and parsed.
import test from 'ava';
import { get } from 'node:https';
import { pino } from 'pino';
import { createCsrPem, generateKeyPem } from '../../pki/keys.js';
import { initRegistry } from '../../registry/init.js';
import { startRegistry } from '../../registry/main.js';
import { RegistryClient } from '../../wire/registry-client.js';
import { rejectionCode } from '../fixtures/error-code.js';
import { find, parseExposition, value } from '../metrics/exposition.js';
import { tempDir } from './cli-harness.js';

async function scrape(listen: string): Promise<{ status: number; type: string | null; text: string }> {
  const res = await fetch(`http://${listen}/metrics`);
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

test('nodes online, enrolments, renewals, revocations and per-route latency are scraped', async (t) => {
  const dir = tempDir(t, 'metrics');
  await initRegistry({ dir, prefix: 'fd42:78::/48', nodePrefixLength: 64, certDays: 20, nowMs: Date.now() });
  const reg = await startRegistry({ dir, listen: '127.0.0.1:0', metricsListen: '127.0.0.1:0', log: pino({ level: 'silent' }) });
  t.teardown(() => reg.stop());
  t.regex(reg.metricsListen ?? '', /^127\.0\.0\.1:\d+$/);
  const url = `https://127.0.0.1:${reg.port}`;
  const token = reg.service.addToken({ uses: 3 }).token;

  const clients: RegistryClient[] = [];
  for (let i = 0; i < 2; i++) {
    const keyPem = generateKeyPem();
    const enrolled = await new RegistryClient({ url, caPem: reg.service.caPem }).enrol(token, await createCsrPem(keyPem));
    const client = new RegistryClient({ url, caPem: reg.service.caPem, certPem: enrolled.certificate, keyPem });
    t.teardown(() => client.close());
    await client.heartbeat({ port: 1194 + i });
    clients.push(client);
  }
  // 20-day certificates are inside the 30-day renewal window at once; a bad token is a 403 under enrol.
  t.truthy((await clients[0]!.renew(await createCsrPem(generateKeyPem()))).certificate);
  t.is(await rejectionCode(new RegistryClient({ url, caPem: reg.service.caPem }).enrol('rn1-nope-nope', await createCsrPem(generateKeyPem()))), 'RN_REGISTRY_TOKEN_INVALID');
  const notFound = await new Promise<number>((done, fail) => {
    get(`${url}/no/such/path?x=1`, { ca: reg.service.caPem }, (res) => (res.resume(), done(res.statusCode ?? 0))).on('error', fail);
  });
  t.is(notFound, 404);

  let s = await scrape(reg.metricsListen!);
  t.is(s.status, 200);
  t.regex(s.type ?? '', /^text\/plain; version=0\.0\.4/);
  let e = parseExposition(s.text);
  t.is(value(e, 'resilnet_registry_nodes', { state: 'online' }), 2);
  t.is(value(e, 'resilnet_registry_nodes', { state: 'revoked' }), 0);
  t.is(value(e, 'resilnet_registry_enrolments_total', { kind: 'new' }), 2);
  t.is(value(e, 'resilnet_registry_renewals_total'), 1);
  t.is(value(e, 'resilnet_registry_network_config_version'), reg.service.configVersion());
  const count = (labels: Record<string, string>) => value(e, 'resilnet_registry_http_request_duration_seconds_count', labels);
  t.is(count({ route: '/v1/enrol', method: 'POST', code: '200' }), 2);
  t.is(count({ route: '/v1/enrol', method: 'POST', code: '403' }), 1);
  t.is(count({ route: '/v1/heartbeat', method: 'POST', code: '200' }), 2);
  t.is(count({ route: '/v1/renew', method: 'POST', code: '200' }), 1);
  t.true(find(e, 'resilnet_registry_http_request_duration_seconds_bucket', { route: '/v1/enrol', le: '+Inf' }).length > 0);
  // Not the raw URL: unknown paths share one label.
  t.deepEqual(find(e, 'resilnet_registry_http_request_duration_seconds_count', { route: '/no/such/path' }), []);
  t.is(value(e, 'resilnet_registry_http_request_duration_seconds_count', { route: 'other', method: 'GET', code: '404' }), 1);

  const revoked = await reg.service.revoke(reg.service.listNodes()[0]!.prefix);
  e = parseExposition((await scrape(reg.metricsListen!)).text);
  t.is(value(e, 'resilnet_registry_revocations_total'), revoked.revoked_serials.length);
  t.is(value(e, 'resilnet_registry_nodes', { state: 'revoked' }), 1);
  t.is(value(e, 'resilnet_registry_nodes', { state: 'online' }), 1);
});

test('listen "" serves no metrics; a port in use leaves the API serving without them', async (t) => {
  const dir = tempDir(t, 'metrics-off');
  await initRegistry({ dir, prefix: 'fd42:79::/48', nodePrefixLength: 64, certDays: 20, nowMs: Date.now() });
  const off = await startRegistry({ dir, listen: '127.0.0.1:0', metricsListen: '', log: pino({ level: 'silent' }) });
  t.is(off.metricsListen, null);
  await off.stop();

  const first = await startRegistry({ dir, listen: '127.0.0.1:0', metricsListen: '127.0.0.1:0', log: pino({ level: 'silent' }) });
  const taken = first.metricsListen!;
  await first.stop();
  const blocker = await startRegistry({ dir, listen: '127.0.0.1:0', metricsListen: taken, log: pino({ level: 'silent' }) });
  t.teardown(() => blocker.stop());
  t.is(blocker.metricsListen, taken);
  const dir2 = tempDir(t, 'metrics-busy');
  await initRegistry({ dir: dir2, prefix: 'fd42:7a::/48', nodePrefixLength: 64, certDays: 20, nowMs: Date.now() });
  const second = await startRegistry({ dir: dir2, listen: '127.0.0.1:0', metricsListen: taken, log: pino({ level: 'silent' }) });
  t.teardown(() => second.stop());
  t.is(second.metricsListen, null);
  t.true((await new RegistryClient({ url: `https://127.0.0.1:${second.port}`, caPem: second.service.caPem }).health()).ok);
});

test('a bad metrics address is refused at start with the reason', async (t) => {
  const dir = tempDir(t, 'metrics-bad');
  await initRegistry({ dir, prefix: 'fd42:7b::/48', nodePrefixLength: 64, certDays: 20, nowMs: Date.now() });
  const err = await t.throwsAsync(startRegistry({ dir, listen: '127.0.0.1:0', metricsListen: 'metrics.local:9328', log: pino({ level: 'silent' }) }));
  t.is((err as { code?: string }).code, 'RN_CONFIG_INVALID');
  t.regex(err!.message, /metrics\.listen invalid: "metrics\.local" is not an IP address/);
});
