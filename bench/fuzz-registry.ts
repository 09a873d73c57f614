// Bounded HTTPS fuzzing of the registry on loopback: every endpoint gets valid
// requests and mutated ones (bodies, types, content types, methods, queries,
// unusable addresses, CSRs, client certificates, raw HTTP framing). Passes when
// no request got a 5xx or hung, the registry process is still alive, and
// `PRAGMA integrity_check` of its store says "ok" afterwards. Prints a table of
// status codes per endpoint, then one JSON line; exits 1 on a finding.
//
//   npm run bench:fuzz-registry [-- --requests 100000 --concurrency 16 --seed 1]
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { main } from '../cli/main.js';
import { seededRng, type Rng } from '../lab/rng.js';
import { createCsrPem, generateKeyPem } from '../pki/keys.js';
import { initRegistry } from '../registry/init.js';
import { registryPath } from '../registry/registry-config.js';
import { REGISTRY_API_PATHS } from '../wire/registry-api.js';
import { RegistryClient } from '../wire/registry-client.js';

/** One fuzz case: what to send, and the endpoint it is counted under. */
interface Case {
  endpoint: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Buffer;
  withCert: boolean;
}

/** What a request ended as: an HTTP status, or how the connection ended without one. */
type Outcome = number | 'closed' | 'hang';

const REQUEST_DEADLINE_MS = 60_000; // far above the registry's own 15 s request time-out
const JSON_TYPE = { 'content-type': 'application/json' };
const BAD_ADDRESSES = ['[fe80::1%eth0]:1194', '127.0.0.1:1194', '[::1]:1194', '[fe80::9]:5', '169.254.1.1', '0.0.0.0:1', '[::]:1194', '[ff02::1]:1194', '224.0.0.1:9', '255.255.255.255', '999.1.1.1', '[1::2::3]:4', 'host:80', ''];
const GOOD_ADDRESSES = ['198.51.100.7:1194', '10.1.2.3', '[2001:db8::1]:4000', '[fd00::5]:1194'];
const METHODS = ['GET', 'POST', 'DELETE', 'PUT', 'PATCH', 'HEAD', 'OPTIONS'];

/** Mutations of a valid JSON value: each returns the text to send. */
function mutateJson(rng: Rng, value: Record<string, unknown>): string {
  const keys = Object.keys(value);
  const weird: unknown[] = [null, true, -1, 1e309, 2 ** 53 + 1, '', 'x'.repeat(70_000), [], {}, [[[[]]]], '\u0000', '\ud800', { __proto__: { admin: true } }];
  switch (rng.int(0, 9)) {
    case 0: { // drop a field
      const copy = { ...value };
      delete copy[rng.pick(keys)];
      return JSON.stringify(copy);
    }
    case 1: // a field of the wrong type
      return JSON.stringify({ ...value, [rng.pick(keys)]: rng.pick(weird) });
    case 2: // an unknown field
      return JSON.stringify({ ...value, [rng.pick(['admin', '__proto__', 'constructor', 'x'.repeat(300)])]: 1 });
    case 3: { // truncated
      const text = JSON.stringify(value);
      return text.slice(0, rng.int(0, text.length - 1));
    }
    case 4: // not an object
      return JSON.stringify(rng.pick([[], null, 0, 'text', [value]]));
    case 5: // deep nesting
      return `${'['.repeat(rng.int(100, 20_000))}${']'.repeat(rng.int(0, 100))}`;
    case 6: { // a byte flipped
      const bytes = Buffer.from(JSON.stringify(value));
      bytes[rng.int(0, bytes.length - 1)] = rng.int(0, 255);
      return bytes.toString('latin1');
    }
    case 7: // duplicated keys (the last one wins in JSON.parse)
      return JSON.stringify(value).replace(/^\{/, `{"${rng.pick(keys)}":${JSON.stringify(rng.pick(weird))},`);
    case 8: // big but under the drain limit
      return JSON.stringify({ ...value, pad: 'y'.repeat(rng.int(60_000, 200_000)) });
    default:
      return JSON.stringify(value);
  }
}

function heartbeatBody(rng: Rng): Record<string, unknown> {
  const address = () => ({ address: rng.next() < 0.5 ? rng.pick(BAD_ADDRESSES) : rng.pick(GOOD_ADDRESSES), kind: rng.pick(['public', 'internal', 'upnp', 'configured', 'seen']) });
  return {
    port: rng.pick([1194, 0, 65535, 65536, -1, 1.5]),
    addresses: Array.from({ length: rng.int(0, rng.next() < 0.1 ? 40 : 3) }, address),
    tunnels: rng.next() < 0.8 ? [] : [{ peer: rng.pick(['fd42:99::/64', 'fd42:99::/48', 'nope', '::/0']), role: rng.pick(['client', 'server', 'x']), rx_bytes: rng.pick([0, -1, 1e20]), tx_bytes: 1 }],
    network_config_version: rng.pick([0, 1, -5, 1e10]),
  };
}

interface Material {
  token: string;
  csrs: string[];
  /** CSR-looking texts that must all be refused. */
  badCsrs: string[];
}

function makeCase(rng: Rng, m: Material): Case {
  const P = REGISTRY_API_PATHS;
  const kind = rng.pick(['health', 'ca', 'enrol', 'renew', 'network-config', 'crl', 'bootstrap', 'heartbeat', 'unknown'] as const);
  const withCert = rng.next() < 0.85;
  const method = (usual: string) => (rng.next() < 0.1 ? rng.pick(METHODS) : usual);
  const otherTypes: Record<string, string>[] = [{}, { 'content-type': 'text/plain' }, { 'content-type': 'application/json; charset=latin1' }, { 'content-type': 'APPLICATION/JSON' }];
  const contentType = (): Record<string, string> => (rng.next() < 0.08 ? rng.pick(otherTypes) : JSON_TYPE);
  switch (kind) {
    case 'health':
    case 'ca':
    case 'network-config':
    case 'crl': {
      const path = { health: P.health, ca: P.ca, 'network-config': P.networkConfig, crl: P.crl }[kind];
      return { endpoint: kind, method: method('GET'), path: rng.next() < 0.1 ? `${path}?${'a=b&'.repeat(rng.int(1, 500))}` : path, headers: {}, withCert };
    }
    case 'bootstrap': {
      const count = rng.pick(['8', '1', '64', '0', '65', '-1', 'abc', '1e3', '', '%00', '8&count=9']);
      return { endpoint: kind, method: method('GET'), path: `${P.bootstrap}?count=${count}`, headers: {}, withCert };
    }
    case 'enrol': {
      const csr = rng.next() < 0.3 ? rng.pick(m.badCsrs) : rng.pick(m.csrs);
      const token = rng.next() < 0.7 ? m.token : rng.pick(['', 'abcdef01.aaaaaaaaaaaaaaaaaaaaaaaa', m.token.toUpperCase(), `${m.token}x`, 'x'.repeat(300)]);
      const body = rng.next() < 0.5 ? JSON.stringify({ token, csr }) : mutateJson(rng, { token, csr });
      return { endpoint: kind, method: method('POST'), path: P.enrol, headers: contentType(), body, withCert: rng.next() < 0.2 };
    }
    case 'renew': {
      const body = mutateJson(rng, { csr: rng.next() < 0.5 ? rng.pick(m.csrs) : rng.pick(m.badCsrs) });
      return { endpoint: kind, method: method('POST'), path: P.renew, headers: contentType(), body, withCert };
    }
    case 'heartbeat': {
      const hb = heartbeatBody(rng);
      const body = rng.next() < 0.5 ? JSON.stringify(hb) : mutateJson(rng, hb);
      return { endpoint: kind, method: method('POST'), path: P.heartbeat, headers: contentType(), body, withCert };
    }
    default:
      return { endpoint: kind, method: rng.pick(METHODS), path: rng.pick(['/', '/v1', '/v2/health', '/v1/health/', '/v1/%zz', '//v1/ca', '/v1/../v1/ca', `/${'a'.repeat(5000)}`]), headers: {}, withCert };
  }
}

/** Raw HTTP on a TLS socket: framing no client library would send. */
const RAW_CASES = [
  'HELLO THERE\r\n\r\n',
  'GET /v1/health HTTP/0.9\r\n\r\n',
  'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
  'POST /v1/enrol HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n',
  'POST /v1/enrol HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n',
  'POST /v1/enrol HTTP/1.1\r\nHost: x\r\ncontent-length: -1\r\n\r\n',
  'GET /v1/health HTTP/1.1\r\nHost: x\r\nx-big: ' + 'y'.repeat(70_000) + '\r\n\r\n',
  'GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/ca HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
  'GET /v1/health HTTP/1.1\r\nHo st: x\r\n\r\n',
  'GET\0/v1/health HTTP/1.1\r\n\r\n',
];

function rawRequest(port: number, caPem: string, bytes: string): Promise<Outcome> {
  return new Promise((resolve) => {
    let out = '';
    const s = tlsConnect({ host: '127.0.0.1', port, ca: caPem, checkServerIdentity: () => undefined }, () => s.end(bytes));
    const timer = setTimeout(() => (s.destroy(), resolve('hang')), REQUEST_DEADLINE_MS);
    s.on('data', (d: Buffer) => (out += d.toString('latin1')));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      const m = /^HTTP\/1\.1 (\d{3})/.exec(out);
      resolve(m ? Number(m[1]) : 'closed');
    });
  });
}

function send(url: string, agent: Agent, c: Case): Promise<Outcome> {
  return new Promise((resolve) => {
    const body = c.body === undefined ? undefined : Buffer.isBuffer(c.body) ? c.body : Buffer.from(c.body, 'latin1');
    const req = request(new URL(c.path, url), {
      method: c.method, agent, headers: { ...(body ? { 'content-length': String(body.length) } : {}), ...c.headers },
    });
    const timer = setTimeout(() => (req.destroy(), resolve('hang')), REQUEST_DEADLINE_MS);
    req.on('error', () => (clearTimeout(timer), resolve('closed')));
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => (clearTimeout(timer), resolve(res.statusCode ?? 'closed')));
      res.on('error', () => (clearTimeout(timer), resolve('closed')));
    });
    req.end(body);
  });
}

async function startRegistry(dir: string): Promise<{ child: ChildProcess; url: string; port: number; exited: Promise<number | null> }> {
  const ready = join(dir, 'ready.json');
  const child = spawn(process.execPath, ['--import', 'tsx', new URL(import.meta.url).pathname, '--serve-child', dir, ready], { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const deadline = Date.now() + 180_000; // a loaded 2-core machine starts tsx slowly
  while (!existsSync(ready)) {
    if (child.exitCode !== null) throw new Error(`the registry exited with ${child.exitCode} before serving`);
    if (Date.now() > deadline) throw new Error('the registry did not start within 180 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  const info = JSON.parse(readFileSync(ready, 'utf8')) as { url: string; port: number };
  return { child, url: info.url, port: info.port, exited };
}

async function prepare(dir: string, url: string, caPem: string, requests: number): Promise<Material & { cert: { certPem: string; keyPem: string } }> {
  let out = '';
  const io = { stdout: { write: (s: string) => (out += s) }, stderr: process.stderr };
  await main(['registry', 'token', 'add', '--dir', dir, '--uses', String(Math.min(1_000_000, requests + 10))], io);
  const token = out.trim();
  const keys = Array.from({ length: 8 }, () => generateKeyPem());
  const csrs = await Promise.all(keys.map((k) => createCsrPem(k)));
  const client = new RegistryClient({ url, caPem });
  const enrolled = await client.enrol(token, csrs[0]!);
  client.close();
  const body = csrs[1]!.split('\n').slice(1, -2).join('');
  const badCsrs = [
    'garbage',
    '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n',
    `-----BEGIN CERTIFICATE REQUEST-----\n${body.slice(0, body.length / 2)}\n-----END CERTIFICATE REQUEST-----\n`,
    `-----BEGIN CERTIFICATE REQUEST-----\n${Buffer.from(body, 'base64').reverse().toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`,
    csrs[2]!.replace(/[A-Z]{4}/, 'AAAA'),
    enrolled.certificate,
    `${'-----BEGIN CERTIFICATE REQUEST-----'}\n${'A'.repeat(12_000)}\n-----END CERTIFICATE REQUEST-----\n`,
  ];
  return { token, csrs, badCsrs, cert: { certPem: enrolled.certificate, keyPem: keys[0]! } };
}

function table(counts: Map<string, Map<string, number>>): string {
  const columns = [...new Set([...counts.values()].flatMap((m) => [...m.keys()]))].sort();
  const rows = [['endpoint', ...columns, 'total']];
  for (const [endpoint, m] of [...counts.entries()].sort()) {
    rows.push([endpoint, ...columns.map((c) => String(m.get(c) ?? 0)), String([...m.values()].reduce((a, b) => a + b, 0))]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ')).join('\n');
}

async function run(): Promise<number> {
  const { values } = parseArgs({
    options: {
      requests: { type: 'string', default: '100000' },
      concurrency: { type: 'string', default: '16' },
      seed: { type: 'string', default: '1' },
    },
  });
  const requests = Number(values.requests);
  const concurrency = Number(values.concurrency);
  const seed = Number(values.seed);
  if (!Number.isInteger(requests) || requests < 1 || !Number.isInteger(concurrency) || concurrency < 1 || concurrency > 100) {
    throw new Error('--requests must be a whole number ≥ 1 and --concurrency 1…100 (under the registry\'s per-address connection cap)');
  }
  const root = mkdtempSync(join(tmpdir(), 'rn-fuzz-reg-'));
  const dir = join(root, 'reg');
  let registry: Awaited<ReturnType<typeof startRegistry>> | undefined;
  try {
    await initRegistry({ dir, prefix: 'fd42:f0::/40', nodePrefixLength: 64, certDays: 365, nowMs: Date.now() });
    registry = await startRegistry(dir);
    const caPem = readFileSync(registryPath(dir, 'caCert'), 'utf8');
    const m = await prepare(dir, registry.url, caPem, requests);
    const tlsOpts = { ca: caPem, checkServerIdentity: () => undefined, keepAlive: true, maxSockets: concurrency };
    const agents = { anonymous: new Agent(tlsOpts), node: new Agent({ ...tlsOpts, cert: m.cert.certPem, key: m.cert.keyPem }) };

    const rng = seededRng(seed);
    const counts = new Map<string, Map<string, number>>();
    const count = (endpoint: string, outcome: Outcome) => {
      const row = counts.get(endpoint) ?? new Map<string, number>();
      row.set(String(outcome), (row.get(String(outcome)) ?? 0) + 1);
      counts.set(endpoint, row);
    };
    let next = 0;
    const startMs = Date.now();
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < requests) {
        next++;
        if (rng.next() < 0.02) {
          count('raw-http', await rawRequest(registry!.port, caPem, rng.pick(RAW_CASES)));
          continue;
        }
        const c = makeCase(rng, m);
        count(c.endpoint, await send(registry!.url, c.withCert ? agents.node : agents.anonymous, c));
      }
    }));
    const seconds = (Date.now() - startMs) / 1000;
    agents.anonymous.destroy();
    agents.node.destroy();

    const health = await send(registry.url, new Agent({ ca: caPem, checkServerIdentity: () => undefined }), { endpoint: 'health', method: 'GET', path: REGISTRY_API_PATHS.health, headers: {}, withCert: false });
    const aliveAfter = registry.child.exitCode === null && health === 200;
    registry.child.kill('SIGTERM');
    const exitCode = await registry.exited;
    registry = undefined;
    const db = new Database(registryPath(dir, 'db'), { readonly: true });
    const integrity = String(db.pragma('integrity_check', { simple: true }));
    db.close();

    const totals = new Map<string, number>();
    for (const row of counts.values()) for (const [k, v] of row) totals.set(k, (totals.get(k) ?? 0) + v);
    const fiveXx = [...totals.entries()].filter(([k]) => /^5\d\d$/.test(k)).reduce((a, [, v]) => a + v, 0);
    const hangs = totals.get('hang') ?? 0;
    const ok = fiveXx === 0 && hangs === 0 && aliveAfter && exitCode === 0 && integrity === 'ok';
    process.stdout.write(`registry fuzzing: ${requests} requests in ${seconds.toFixed(1)} s (${(requests / seconds).toFixed(0)}/s), concurrency ${concurrency}, seed ${seed}\n\n`);
    process.stdout.write(`${table(counts)}\n\n`);
    process.stdout.write(`5xx: ${fiveXx}, hung: ${hangs}, serving afterwards: ${aliveAfter}, clean exit: ${exitCode === 0}, integrity_check: ${integrity}\n`);
    process.stdout.write(`${JSON.stringify({
      bench: 'fuzz-registry', ok, requests, seconds: Number(seconds.toFixed(2)), per_sec: Math.round(requests / seconds), concurrency, seed,
      statuses: Object.fromEntries([...totals.entries()].sort()), five_xx: fiveXx, hangs, alive_after: aliveAfter, exit_code: exitCode, integrity,
    })}\n`);
    return ok ? 0 : 1;
  } finally {
    if (registry) {
      registry.child.kill('SIGKILL');
      await registry.exited;
    }
    rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--serve-child') {
  const [dir, ready] = process.argv.slice(3) as [string, string];
  const io = { stdout: { write: () => true }, stderr: process.stderr };
  process.exitCode = await main(['registry', 'serve', '--dir', dir, '--listen', '127.0.0.1:0', '--metrics-listen', '', '--ready-file', ready], io);
} else {
  process.exitCode = await run().catch((err: unknown) => {
    process.stderr.write(`fuzz-registry failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    return 1;
  });
}
