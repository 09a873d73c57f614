// RegistryService on an in-memory store with a hand-driven clock.
import test from 'ava';
import { pino } from 'pino';
import { ResilnetError } from '../../config/errors.js';
import { parsePrefix, prefixContains } from '../../config/ipv6.js';
import { pemToDer } from '../../pki/der.js';
import { createCsrPem, generateKeyPem } from '../../pki/keys.js';
import { parseCrl, verifyCertificate } from '../../pki/identity.js';
import { verifyNetworkConfig } from '../../pki/network-config.js';
import { RegistryDb } from '../../registry/db.js';
import { registryConfigSchema } from '../../registry/registry-config.js';
import { RegistryService } from '../../registry/service.js';
import { DAY_MS, NOW_MS, makeCa } from '../pki/pki-fixture.js';
import { rejectionCode } from '../fixtures/error-code.js';

async function setup(opts: { prefix?: string; nodeLength?: number; certDays?: number } = {}) {
  const prefix = opts.prefix ?? 'fd5e:1::/48';
  const ca = await makeCa(prefix);
  const db = new RegistryDb(':memory:');
  const clock = { now: NOW_MS };
  const config = registryConfigSchema.parse({
    network: { prefix, node_prefix_length: opts.nodeLength ?? 64 },
    certificates: { days: opts.certDays ?? 20, renew_window_days: 10, grace_days: 5 },
    liveness: { offline_after_sec: 600 },
  });
  const service = new RegistryService({
    db, ca, config, registryUrls: ['https://127.0.0.1:8443'], nowMs: () => clock.now, rand: Math.random, log: pino({ level: 'silent' }),
  });
  await service.start();
  return { ca, db, clock, service };
}

async function newNode() {
  const keyPem = generateKeyPem();
  return { keyPem, csr: await createCsrPem(keyPem) };
}

test('enrolment gives distinct prefixes with certificates and a signed config', async (t) => {
  const { ca, service } = await setup();
  const token = service.addToken({ uses: 3 }).token;
  const prefixes = new Set<string>();
  for (let i = 0; i < 3; i++) {
    const r = await service.enrol(token, (await newNode()).csr);
    const info = verifyCertificate(r.certificate, ca.certPem, { nowMs: NOW_MS });
    t.is(info.prefix, r.prefix);
    t.true(prefixContains(parsePrefix('fd5e:1::/48'), parsePrefix(r.prefix)));
    t.is(info.notAfterMs, NOW_MS + 20 * DAY_MS);
    t.is(verifyNetworkConfig(r.network_config, ca.certPem).network_prefix, 'fd5e:1::/48');
    prefixes.add(r.prefix);
  }
  t.is(prefixes.size, 3);
  t.is(await rejectionCode(service.enrol(token, (await newNode()).csr)), 'RN_REGISTRY_TOKEN_USED');
});

test('a bad CSR does not spend the token', async (t) => {
  const { service } = await setup();
  const token = service.addToken({ uses: 1 }).token;
  t.is(await rejectionCode(service.enrol(token, 'garbage')), 'RN_PKI_CSR_INVALID');
  t.is(service.listTokens()[0]!.uses_left, 1);
  t.truthy((await service.enrol(token, (await newNode()).csr)).certificate);
});

test('a single-use token is spent exactly once under 20 concurrent enrolments', async (t) => {
  const { service } = await setup();
  const token = service.addToken({ uses: 1 }).token;
  const csrs = await Promise.all(Array.from({ length: 20 }, async () => (await newNode()).csr));
  const results = await Promise.allSettled(csrs.map((csr) => service.enrol(token, csr)));
  const ok = results.filter((r) => r.status === 'fulfilled');
  t.is(ok.length, 1);
  for (const r of results) if (r.status === 'rejected') t.is((r.reason as ResilnetError).code, 'RN_REGISTRY_TOKEN_USED');
  t.is(service.listNodes().length, 1);
});

test('the same key enrolling again keeps its prefix', async (t) => {
  const { service } = await setup();
  const token = service.addToken({ uses: 2 }).token;
  const n = await newNode();
  const a = await service.enrol(token, n.csr);
  const b = await service.enrol(token, await createCsrPem(n.keyPem));
  t.is(a.prefix, b.prefix);
  t.is(service.listNodes().length, 1);
});

test('a full network is a clear error and leaves the token unspent', async (t) => {
  const { service } = await setup({ prefix: 'fd00:9::/62', nodeLength: 63 });
  const token = service.addToken({ uses: 5 }).token;
  await service.enrol(token, (await newNode()).csr);
  await service.enrol(token, (await newNode()).csr);
  t.is(await rejectionCode(service.enrol(token, (await newNode()).csr)), 'RN_REGISTRY_NETWORK_FULL');
  t.is(service.listTokens()[0]!.uses_left, 3);
});

test('expired and revoked tokens are refused', async (t) => {
  const { service, clock } = await setup();
  const expiring = service.addToken({ uses: 1, expiresInMs: 60_000 }).token;
  const revoked = service.addToken({ uses: 1 }).token;
  service.revokeToken(revoked.split('.')[0]!);
  clock.now += 60_000;
  t.is(await rejectionCode(service.enrol(expiring, (await newNode()).csr)), 'RN_REGISTRY_TOKEN_EXPIRED');
  t.is(await rejectionCode(service.enrol(revoked, (await newNode()).csr)), 'RN_REGISTRY_TOKEN_INVALID');
  t.is(await rejectionCode(service.enrol('ffffffff.aaaaaaaaaaaaaaaaaaaaaaaa', (await newNode()).csr)), 'RN_REGISTRY_TOKEN_INVALID');
  t.deepEqual(service.listTokens().map((x) => x.state).sort(), ['expired', 'revoked']);
});

test('renewal: window, grace period and revocation', async (t) => {
  const { ca, service, clock } = await setup();
  const token = service.addToken({ uses: 1 }).token;
  const n = await newNode();
  const r = await service.enrol(token, n.csr);
  const der = pemToDer(r.certificate, 'CERTIFICATE');
  const node = service.authenticate(der);
  t.is(await rejectionCode(service.renew(node, n.csr)), 'RN_REGISTRY_RENEW_TOO_EARLY');

  clock.now = NOW_MS + 11 * DAY_MS; // inside the 10-day window
  const renewed = await service.renew(service.authenticate(der), n.csr);
  const info = verifyCertificate(renewed.certificate, ca.certPem, { nowMs: clock.now });
  t.is(info.prefix, r.prefix);
  t.not(info.serial, node.serial);

  clock.now = NOW_MS + 22 * DAY_MS; // old certificate expired 2 days ago; grace is 5
  t.is(await rejectionCode(() => service.authenticate(der)), 'RN_PKI_CERT_EXPIRED');
  const late = await service.renew(service.authenticate(der, { graceMs: 5 * DAY_MS }), n.csr);
  t.is(verifyCertificate(late.certificate, ca.certPem, { nowMs: clock.now }).prefix, r.prefix);
  clock.now = NOW_MS + 26 * DAY_MS;
  t.is(await rejectionCode(() => service.authenticate(der, { graceMs: 5 * DAY_MS })), 'RN_PKI_CERT_EXPIRED');

  await service.revoke(r.prefix);
  t.is(await rejectionCode(() => service.authenticate(pemToDer(late.certificate, 'CERTIFICATE'), { graceMs: 5 * DAY_MS })), 'RN_PKI_CERT_REVOKED');
});

test('revocation publishes a CRL and a new network-config version', async (t) => {
  const { ca, service } = await setup();
  const token = service.addToken({ uses: 2 }).token;
  const a = await service.enrol(token, (await newNode()).csr);
  const b = await service.enrol(token, (await newNode()).csr);
  const v0 = service.configVersion();
  const bSerial = verifyCertificate(b.certificate, ca.certPem, { nowMs: NOW_MS }).serial;
  const res = await service.revoke(b.prefix);
  t.deepEqual(res.revoked_serials, [bSerial]);
  t.true(service.configVersion() > v0);
  const config = verifyNetworkConfig(service.signedConfig(), ca.certPem);
  t.deepEqual(config.revoked_serials, [bSerial]);
  t.is(config.crl, service.crlPem());
  t.deepEqual(parseCrl(service.crlPem(), ca.certPem).serials, [bSerial]);
  t.is(await rejectionCode(() => service.authenticate(pemToDer(b.certificate, 'CERTIFICATE'))), 'RN_PKI_CERT_REVOKED');
  t.truthy(service.authenticate(pemToDer(a.certificate, 'CERTIFICATE')));
  t.is(service.listNodes().find((n) => n.prefix === b.prefix)!.state, 'revoked');

  const aSerial = verifyCertificate(a.certificate, ca.certPem, { nowMs: NOW_MS }).serial;
  const bySerial = await service.revoke(aSerial.toUpperCase());
  t.deepEqual(bySerial.revoked_serials, [aSerial]);
  t.deepEqual(parseCrl(service.crlPem(), ca.certPem).serials.sort(), [aSerial, bSerial].sort());
  t.is(await rejectionCode(service.revoke('fd5e:1:ffff::/64')), 'RN_REGISTRY_NODE_UNKNOWN');
  t.is(await rejectionCode(service.revoke('ffff0')), 'RN_REGISTRY_CERT_UNKNOWN');
  t.is(await rejectionCode(service.revoke('zz')), 'RN_REGISTRY_BAD_REQUEST');
});

test('config set bumps the version; an invalid value changes nothing', async (t) => {
  const { ca, service } = await setup();
  const v0 = service.configVersion();
  await service.setConfig(['babel.hello_interval=1', 'client_count=2']);
  const c = verifyNetworkConfig(service.signedConfig(), ca.certPem);
  t.is(c.version, v0 + 1);
  t.is(c.babel.hello_interval, 1);
  t.is(c.client_count, 2);
  t.is(await rejectionCode(service.setConfig(['client_count=-5'])), 'RN_REGISTRY_SETTING_INVALID');
  t.is(await rejectionCode(service.setConfig(['nope=1'])), 'RN_REGISTRY_SETTING_INVALID');
  t.is(service.configVersion(), v0 + 1);
  t.is(service.configView().config.client_count, 2);
  await service.setConfig(['client_count=2']);
  t.is(service.configVersion(), v0 + 1, 'no change, no new version');
});

test('heartbeats feed bootstrap: recent peers only, never the caller, never revoked', async (t) => {
  const { service, clock } = await setup();
  const token = service.addToken({ uses: 4 }).token;
  const nodes = [];
  for (let i = 0; i < 4; i++) {
    const r = await service.enrol(token, (await newNode()).csr);
    nodes.push(service.authenticate(pemToDer(r.certificate, 'CERTIFICATE')));
  }
  const [a, b, c, d] = nodes as [typeof nodes[0], typeof nodes[0], typeof nodes[0], typeof nodes[0]];
  const hb = (port: number) => ({ port, addresses: [{ address: '10.9.0.1', kind: 'internal' as const }], tunnels: [], network_config_version: 1, protocol_version: 1, counters: {} });
  const reply = service.heartbeat(a, hb(1194), '::ffff:127.0.0.1');
  t.deepEqual(reply, { seen_address: '127.0.0.1', network_config_version: service.configVersion() });
  service.heartbeat(b, hb(1195), '10.1.0.2');
  service.heartbeat(c, hb(1196), '10.1.0.3');
  clock.now += 11 * 60_000; // a, b, c are now offline
  service.heartbeat(b, hb(1195), '10.1.0.2');
  service.heartbeat(d, hb(1197), '10.1.0.4');
  t.deepEqual(service.bootstrap(a, 10).peers.map((p) => p.prefix).sort(), [b.prefix, d.prefix].sort());
  t.deepEqual(service.bootstrap(b, 10).peers.map((p) => p.prefix), [d.prefix]);
  t.deepEqual(service.bootstrap(a, 10).peers.find((p) => p.prefix === b.prefix)!.addresses, ['10.1.0.2:1195', '10.9.0.1:1195']);
  await service.revoke(d.prefix);
  t.deepEqual(service.bootstrap(a, 10).peers.map((p) => p.prefix), [b.prefix]);
  const view = service.listNodes().find((n) => n.prefix === b.prefix)!;
  t.is(view.state, 'online');
  t.is(view.seen_address, '10.1.0.2');
  t.is(service.listNodes().find((n) => n.prefix === c.prefix)!.state, 'offline');
});

test('a heartbeat announcing an address no peer can use is refused whole, with the reason, and stores nothing', async (t) => {
  const { service } = await setup();
  const token = service.addToken({ uses: 1 }).token;
  const node = service.authenticate(pemToDer((await service.enrol(token, (await newNode()).csr)).certificate, 'CERTIFICATE'));
  const hb = (address: string) => ({
    port: 1194, addresses: [{ address: '198.51.100.1', kind: 'public' as const }, { address, kind: 'internal' as const }],
    tunnels: [], network_config_version: 1, protocol_version: 1, counters: {},
  });
  for (const [address, why] of [['[fe80::1%eth0]:1194', /addresses\.1 .*zone ID/], ['127.0.0.1', /loopback/], ['[fe80::2]:7', /link-local/], ['169.254.1.1:5', /link-local/], ['[::]:1194', /unspecified/], ['239.1.1.1', /multicast/]] as const) {
    const err = t.throws(() => service.heartbeat(node, hb(address), '198.51.100.1'), { instanceOf: ResilnetError });
    t.is(err.code, 'RN_REGISTRY_ADDRESS_REFUSED', address);
    t.regex(err.message, why);
  }
  t.is(service.listNodes()[0]!.last_seen, null);
  service.heartbeat(node, hb('10.0.0.1:1194'), '198.51.100.1');
  t.deepEqual(service.listNodes()[0]!.addresses.map((a) => a.address), ['198.51.100.1', '10.0.0.1:1194']);
});

test('bootstrap never serves unusable addresses a store from an older version holds', async (t) => {
  const { service, db, clock } = await setup();
  const token = service.addToken({ uses: 3 }).token;
  const [a, b, c] = await Promise.all([0, 1, 2].map(async () => service.authenticate(pemToDer((await service.enrol(token, (await newNode()).csr)).certificate, 'CERTIFICATE'))));
  const stored = (prefix: string, seenAddress: string, addresses: string[]) =>
    db.recordHeartbeat({ prefix, nowMs: clock.now, seenAddress, port: 1194, addresses: addresses.map((address) => ({ address, kind: 'internal' })), tunnels: [], configVersion: 1, natClass: null });
  stored(b!.prefix, '127.0.0.1', ['[fe80::1%eth0]:1194', '[::1]:1194', '169.254.0.9', '10.2.0.1']);
  stored(c!.prefix, '::1', ['[fe80::1%eth0]:1194', '0.0.0.0']);
  const peers = service.bootstrap(a!, 10).peers;
  t.deepEqual(peers.map((p) => p.prefix), [b!.prefix], 'a node with no usable address is not served');
  t.deepEqual(peers[0]!.addresses, ['10.2.0.1:1194']);
});

test('bootstrap leaves out nodes behind a NAT without UPnP and tells the class of the others, from their heartbeats', async (t) => {
  const { service, clock } = await setup();
  const token = service.addToken({ uses: 4 }).token;
  const [a, b, c, d] = await Promise.all([0, 1, 2, 3].map(async () => service.authenticate(pemToDer((await service.enrol(token, (await newNode()).csr)).certificate, 'CERTIFICATE'))));
  const hb = (natClass?: 'public' | 'upnp' | 'eim' | 'apdm') => ({
    port: 1194, addresses: [{ address: '10.9.0.1', kind: 'internal' as const }], tunnels: [], network_config_version: 1, protocol_version: 1, counters: {},
    ...(natClass ? { natClass } : {}),
  });
  service.heartbeat(a!, hb('eim'), '198.51.100.1');
  service.heartbeat(b!, hb('eim'), '198.51.100.2');
  service.heartbeat(c!, hb('public'), '198.51.100.3');
  service.heartbeat(d!, hb(), '198.51.100.4');
  const classes = (caller: typeof a) => Object.fromEntries(service.bootstrap(caller!, 10).peers.map((p) => [p.prefix, p.nat_class ?? 'absent']));
  t.deepEqual(classes(a), { [c!.prefix]: 'public', [d!.prefix]: 'absent' }, 'b (eim) is offered to nobody, not even to another NATed node');
  t.deepEqual(classes(c), { [d!.prefix]: 'absent' });
  // b got a UPnP mapping: offered again once the candidates are re-read.
  service.heartbeat(b!, hb('upnp'), '198.51.100.2');
  clock.now += 1_000;
  t.deepEqual(classes(a), { [b!.prefix]: 'upnp', [c!.prefix]: 'public', [d!.prefix]: 'absent' });
});

test('purge frees prefixes of certificates expired past the grace period', async (t) => {
  const { service, clock } = await setup();
  const token = service.addToken({ uses: 3 }).token;
  const a = await service.enrol(token, (await newNode()).csr);
  clock.now += 10 * DAY_MS;
  const b = await service.enrol(token, (await newNode()).csr);
  clock.now = NOW_MS + 20 * DAY_MS + 5 * DAY_MS + 1; // a: expired + grace; b: still valid
  t.deepEqual((await service.maintain()).purged, [a.prefix]);
  t.deepEqual(service.listNodes().map((n) => n.prefix), [b.prefix]);
  const c = await service.enrol(token, (await newNode()).csr);
  t.is(c.prefix, a.prefix, 'the purged prefix returns to the pool');
});

test('state survives a restart of the service on the same store', async (t) => {
  const { ca, db, service } = await setup();
  const token = service.addToken({ uses: 2 }).token;
  const a = await service.enrol(token, (await newNode()).csr);
  await service.revoke(a.prefix);
  const v = service.configVersion();
  const again = new RegistryService({
    db, ca, config: registryConfigSchema.parse({ network: { prefix: 'fd5e:1::/48', node_prefix_length: 64 }, certificates: { days: 20, renew_window_days: 10, grace_days: 5 } }),
    registryUrls: ['https://127.0.0.1:8443'], nowMs: () => NOW_MS, rand: Math.random, log: pino({ level: 'silent' }),
  });
  await again.start();
  t.is(again.configVersion(), v);
  t.is(await rejectionCode(() => again.authenticate(pemToDer(a.certificate, 'CERTIFICATE'))), 'RN_PKI_CERT_REVOKED');
  t.is(again.listTokens()[0]!.uses_left, 1);
});

test('the NAT class of the last heartbeat is stored and shown; a heartbeat without it clears it', async (t) => {
  const { service } = await setup();
  const token = service.addToken({ uses: 2 }).token;
  const [a, b] = await Promise.all([0, 1].map(async () => service.authenticate(pemToDer((await service.enrol(token, (await newNode()).csr)).certificate, 'CERTIFICATE'))));
  const hb = { port: 1194, addresses: [], network_config_version: 1, protocol_version: 1, counters: {} };
  service.heartbeat(a!, { ...hb, natClass: 'eim', tunnels: [{ peer: b!.prefix, role: 'client', rx_bytes: 5, tx_bytes: 7, rtt_ms: 1.5 }] }, '10.1.0.1');
  service.heartbeat(b!, { ...hb, tunnels: [{ peer: a!.prefix, role: 'server', rx_bytes: 7, tx_bytes: 5, rtt_ms: null }] }, '10.1.0.2');
  const view = (p: string) => service.listNodes().find((n) => n.prefix === p)!;
  t.is(view(a!.prefix).nat_class, 'eim');
  t.is(view(b!.prefix).nat_class, null);
  t.deepEqual(view(a!.prefix).tunnel_list, [{ peer: b!.prefix, role: 'client', rx_bytes: 5, tx_bytes: 7, rtt_ms: 1.5 }]);
  t.is(view(a!.prefix).tunnels, 1);
  service.heartbeat(a!, { ...hb, tunnels: [] }, '10.1.0.1');
  t.is(view(a!.prefix).nat_class, null, 'the column says what the last heartbeat said');
  t.is(view(a!.prefix).tunnels, 0);
});

test('the status snapshot reads at most the limit: unrevoked, recently seen nodes first, in prefix order', async (t) => {
  const { service, clock } = await setup();
  const token = service.addToken({ uses: 5 }).token;
  const infos = [];
  for (let i = 0; i < 5; i++) infos.push(service.authenticate(pemToDer((await service.enrol(token, (await newNode()).csr)).certificate, 'CERTIFICATE')));
  const [n0, n1, n2, n3, n4] = infos as [typeof infos[0], typeof infos[0], typeof infos[0], typeof infos[0], typeof infos[0]];
  const hb = { port: 1194, addresses: [], tunnels: [], network_config_version: 1, protocol_version: 1, counters: {} };
  service.heartbeat(n3, hb, '10.1.0.3');
  clock.now += 1000;
  service.heartbeat(n1, hb, '10.1.0.1');
  service.heartbeat(n4, hb, '10.1.0.4');
  await service.revoke(n4.prefix);
  const snap = service.statusSnapshot(2);
  t.is(snap.total_nodes, 5);
  t.deepEqual(snap.nodes.map((n) => n.prefix), [n1.prefix, n3.prefix]);
  t.false('email' in snap.nodes[0]! || 'serials' in snap.nodes[0]!);
  t.deepEqual(service.statusSnapshot(10).nodes.map((n) => n.prefix), [n0, n1, n2, n3, n4].map((n) => n.prefix));
});
