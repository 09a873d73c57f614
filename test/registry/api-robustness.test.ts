// Bad input against the real HTTPS server: every client mistake gets a 4xx
// with a JSON error, and the registry keeps serving afterwards. Also: one
// single-use token under 20 concurrent enrolments yields exactly one certificate.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { createCa, issueNodeCertificate, loadCaSigner } from '../../pki/ca.js';
import { derToPem, pemToDer } from '../../pki/der.js';
import { readCsr } from '../../pki/csr.js';
import { createCsrPem, generateKeyPem } from '../../pki/keys.js';
import { readCertificate } from '../../pki/identity.js';
import { RegistryClient } from '../../wire/registry-client.js';
import { runCli, spawnServe, tempDir, type ServeHandle } from './cli-harness.js';

interface Raw {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  cert?: { certPem: string; keyPem: string };
}

function rawRequest(url: string, caPem: string, r: Raw): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(r.path, url), {
      method: r.method,
      agent: false,
      ca: caPem,
      checkServerIdentity: () => undefined,
      headers: { ...(r.body !== undefined ? { 'content-length': String(Buffer.byteLength(r.body)) } : {}), ...r.headers },
      ...(r.cert ? { cert: r.cert.certPem, key: r.cert.keyPem } : {}),
    });
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.end(r.body);
  });
}

/** Sends raw bytes over TLS and returns the first response line. */
function rawTls(port: number, caPem: string, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, ca: caPem, checkServerIdentity: () => undefined }, () => s.end(bytes));
    let out = '';
    s.on('data', (d: Buffer) => (out += d.toString()));
    s.on('error', reject);
    s.on('close', () => resolve(out.split('\r\n')[0] ?? ''));
  });
}

async function setup(t: Parameters<typeof tempDir>[0] & { teardown: (fn: () => Promise<void> | void) => void }): Promise<{ srv: ServeHandle; reg: string; caPem: string; root: string }> {
  const root = tempDir(t, 'robust');
  const reg = join(root, 'reg');
  const init = await runCli(['registry', 'init', '--dir', reg, '--prefix', 'fd42:99::/48']);
  if (init.code !== 0) throw new Error(init.stderr);
  const srv = await spawnServe(t, reg);
  return { srv, reg, caPem: readFileSync(join(reg, 'ca.crt'), 'utf8'), root };
}

test('20 concurrent enrolments with one single-use token give exactly one certificate', async (t) => {
  const { srv, reg, caPem } = await setup(t);
  const token = (await runCli(['registry', 'token', 'add', '--dir', reg])).stdout.trim();
  const csrs = await Promise.all(Array.from({ length: 20 }, () => createCsrPem(generateKeyPem())));
  const clients = csrs.map(() => new RegistryClient({ url: srv.url, caPem }));
  t.teardown(() => clients.forEach((c) => c.close()));
  const results = await Promise.allSettled(csrs.map((csr, i) => clients[i]!.enrol(token, csr)));
  const ok = results.filter((r) => r.status === 'fulfilled');
  t.is(ok.length, 1);
  const codes = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => (r.reason as { code: string }).code);
  t.deepEqual([...new Set(codes)], ['RN_REGISTRY_TOKEN_USED']);
  const nodes = JSON.parse((await runCli(['registry', 'nodes', '--dir', reg, '--json'])).stdout) as { nodes: unknown[] };
  t.is(nodes.nodes.length, 1);
  const tokens = JSON.parse((await runCli(['registry', 'token', 'list', '--dir', reg, '--json'])).stdout) as { tokens: { uses_left: number }[] };
  t.is(tokens.tokens[0]!.uses_left, 0);
});

test('malformed requests all get a 4xx JSON error and the registry keeps serving', async (t) => {
  const { srv, reg, caPem, root } = await setup(t);
  const token = (await runCli(['registry', 'token', 'add', '--dir', reg, '--uses', '10'])).stdout.trim();
  const goodCsr = await createCsrPem(generateKeyPem());

  // A node of this network, and one from a foreign CA.
  const node = await (async () => {
    const keyPem = generateKeyPem();
    const r = await new RegistryClient({ url: srv.url, caPem }).enrol(token, await createCsrPem(keyPem));
    return { certPem: r.certificate, keyPem };
  })();
  const foreign = await (async () => {
    const fca = await createCa({ networkPrefix: 'fd42:99::/48', notBeforeMs: Date.now() - 60_000, days: 10 });
    const signer = await loadCaSigner(fca.certPem, fca.keyPem);
    const keyPem = generateKeyPem();
    const certPem = await issueNodeCertificate(signer, {
      prefix: readCertificate(node.certPem).prefix, serial: readCertificate(node.certPem).serial,
      publicKeySpki: createPublicKey(keyPem).export({ type: 'spki', format: 'der' }), notBeforeMs: Date.now() - 60_000, notAfterMs: Date.now() + 86_400_000,
    });
    return { certPem, keyPem };
  })();
  const swappedCsr = (() => {
    // Same CSR bytes, but the public key replaced by another key's: the signature no longer matches.
    const der = pemToDer(goodCsr, 'CERTIFICATE REQUEST');
    const mine = readCsr(goodCsr).publicKeySpki;
    createPublicKey(generateKeyPem()).export({ type: 'spki', format: 'der' }).copy(der, der.indexOf(mine));
    return derToPem(der, 'CERTIFICATE REQUEST');
  })();
  execFileSync('openssl', ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=x', '-keyout', join(root, 'rsa.key'), '-out', join(root, 'rsa.csr')], { stdio: 'ignore' });
  const rsaCsr = readFileSync(join(root, 'rsa.csr'), 'utf8');

  const json = { 'content-type': 'application/json' };
  const cases: { name: string; req: Raw; want: number; code?: string }[] = [
    { name: 'bad JSON', req: { method: 'POST', path: '/v1/enrol', headers: json, body: '{"token":' }, want: 400 },
    { name: 'JSON array', req: { method: 'POST', path: '/v1/enrol', headers: json, body: '[]' }, want: 400 },
    { name: 'JSON null', req: { method: 'POST', path: '/v1/enrol', headers: json, body: 'null' }, want: 400 },
    { name: 'wrong types', req: { method: 'POST', path: '/v1/enrol', headers: json, body: '{"token":5,"csr":true}' }, want: 400 },
    { name: 'missing csr', req: { method: 'POST', path: '/v1/enrol', headers: json, body: JSON.stringify({ token }) }, want: 400 },
    { name: 'unknown field', req: { method: 'POST', path: '/v1/enrol', headers: json, body: JSON.stringify({ token, csr: goodCsr, admin: true }) }, want: 400 },
    { name: 'deep nesting', req: { method: 'POST', path: '/v1/enrol', headers: json, body: `${'['.repeat(5000)}${']'.repeat(5000)}` }, want: 400 },
    { name: 'invalid UTF-8', req: { method: 'POST', path: '/v1/enrol', headers: json, body: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]) }, want: 400 },
    { name: 'huge body', req: { method: 'POST', path: '/v1/enrol', headers: json, body: JSON.stringify({ token, csr: 'x'.repeat(300_000) }) }, want: 413 },
    { name: 'text/plain', req: { method: 'POST', path: '/v1/enrol', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ token, csr: goodCsr }) }, want: 415 },
    { name: 'no content type', req: { method: 'POST', path: '/v1/enrol', body: JSON.stringify({ token, csr: goodCsr }) }, want: 415 },
    { name: 'garbage CSR', req: { method: 'POST', path: '/v1/enrol', headers: json, body: JSON.stringify({ token, csr: '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n' }) }, want: 400 },
    { name: 'CSR for a foreign key', req: { method: 'POST', path: '/v1/enrol', headers: json, body: JSON.stringify({ token, csr: swappedCsr }) }, want: 400 },
    { name: 'RSA CSR', req: { method: 'POST', path: '/v1/enrol', headers: json, body: JSON.stringify({ token, csr: rsaCsr }) }, want: 400 },
    { name: 'unknown token', req: { method: 'POST', path: '/v1/enrol', headers: json, body: JSON.stringify({ token: 'abcdef01.aaaaaaaaaaaaaaaaaaaaaaaa', csr: goodCsr }) }, want: 403 },
    { name: 'unknown path', req: { method: 'GET', path: '/v1/nope' }, want: 404 },
    { name: 'POST status.json', req: { method: 'POST', path: '/status.json', headers: json, body: '{}' }, want: 405 },
    { name: 'heartbeat with an unknown NAT class', req: { method: 'POST', path: '/v1/heartbeat', headers: json, body: '{"port":1194,"natClass":"symmetric"}', cert: node }, want: 400 },
    { name: 'bad percent encoding', req: { method: 'GET', path: '/v1/%zz' }, want: 404 },
    { name: 'DELETE enrol', req: { method: 'DELETE', path: '/v1/enrol' }, want: 405 },
    { name: 'GET enrol', req: { method: 'GET', path: '/v1/enrol' }, want: 405 },
    { name: 'POST ca', req: { method: 'POST', path: '/v1/ca', headers: json, body: '{}' }, want: 405 },
    { name: 'network config without client cert', req: { method: 'GET', path: '/v1/network-config' }, want: 401 },
    { name: 'heartbeat without client cert', req: { method: 'POST', path: '/v1/heartbeat', headers: json, body: '{"port":1194}' }, want: 401 },
    { name: 'renew without client cert', req: { method: 'POST', path: '/v1/renew', headers: json, body: JSON.stringify({ csr: goodCsr }) }, want: 401 },
    { name: 'CRL with a certificate from another CA', req: { method: 'GET', path: '/v1/crl', cert: foreign }, want: 403 },
    { name: 'heartbeat with a certificate from another CA', req: { method: 'POST', path: '/v1/heartbeat', headers: json, body: '{"port":1194}', cert: foreign }, want: 403 },
    { name: 'heartbeat with bad types', req: { method: 'POST', path: '/v1/heartbeat', headers: json, body: '{"port":"x"}', cert: node }, want: 400 },
    { name: 'heartbeat with a bad address', req: { method: 'POST', path: '/v1/heartbeat', headers: json, body: '{"port":1194,"addresses":[{"address":"999.1.1.1:5","kind":"public"}]}', cert: node }, want: 400 },
    ...['[fe80::1%eth0]:1194', '127.0.0.1:1194', '[::1]:1194', '[fe80::1]:1194', '169.254.3.4:1194', '0.0.0.0', '[ff02::1]:1194'].map((address) => ({
      name: `heartbeat announcing ${address}`,
      req: { method: 'POST', path: '/v1/heartbeat', headers: json, body: JSON.stringify({ port: 1194, addresses: [{ address: '198.51.100.1', kind: 'public' }, { address, kind: 'internal' }] }), cert: node },
      want: 400,
      code: 'RN_REGISTRY_ADDRESS_REFUSED',
    })),
    { name: 'heartbeat with too many tunnels', req: { method: 'POST', path: '/v1/heartbeat', headers: json, body: JSON.stringify({ port: 1194, tunnels: Array.from({ length: 600 }, () => ({ peer: 'fd42:99::/64', role: 'client', rx_bytes: 0, tx_bytes: 0 })) }), cert: node }, want: 400 },
    { name: 'bootstrap count not a number', req: { method: 'GET', path: '/v1/bootstrap?count=abc', cert: node }, want: 400 },
    { name: 'bootstrap count too large', req: { method: 'GET', path: '/v1/bootstrap?count=100000', cert: node }, want: 400 },
    { name: 'renew too early', req: { method: 'POST', path: '/v1/renew', headers: json, body: JSON.stringify({ csr: goodCsr }), cert: node }, want: 409 },
    { name: 'renew with a bad CSR', req: { method: 'POST', path: '/v1/renew', headers: json, body: '{"csr":"nope"}', cert: node }, want: 400 },
    { name: 'oversized header', req: { method: 'GET', path: '/v1/health', headers: { 'x-big': 'y'.repeat(20_000) } }, want: 431 },
  ];
  t.true(cases.length >= 20);
  for (const c of cases) {
    const res = await rawRequest(srv.url, caPem, c.req);
    t.is(res.status, c.want, `${c.name}: ${res.body}`);
    if (res.status !== 431) {
      const body = JSON.parse(res.body) as { error: { code: string; message: string } };
      t.regex(body.error.code, /^RN_[A-Z]+_[A-Z_]+$/, c.name);
      t.true(body.error.message.length > 0, c.name);
      if (c.code) t.is(body.error.code, c.code, `${c.name}: ${body.error.message}`);
    }
  }

  // Malformed HTTP on the TLS socket, and a slow client that never finishes its headers.
  t.regex(await rawTls(srv.port, caPem, 'HELLO THERE\r\n\r\n'), /^HTTP\/1\.1 400/);
  const slow = tlsConnect({ host: '127.0.0.1', port: srv.port, ca: caPem, checkServerIdentity: () => undefined }, () => slow.write('GET /v1/health HTTP/1.1\r\nHost: x\r\n'));
  slow.on('error', () => undefined);
  t.teardown(() => slow.destroy());

  // Still serving: health, and a real enrolment.
  const health = await rawRequest(srv.url, caPem, { method: 'GET', path: '/v1/health' });
  t.is(health.status, 200);
  const client = new RegistryClient({ url: srv.url, caPem });
  t.teardown(() => client.close());
  t.truthy((await client.enrol(token, goodCsr)).certificate);
  t.is(srv.child.exitCode, null);
  t.notRegex(srv.output(), /"level":50|unexpected/);
});
