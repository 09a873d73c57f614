import test from 'ava';
import { mkdtempSync, rmSync, statSync, existsSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { ConfigError } from '../../../config/errors.js';
import { ControlClient } from '../../../daemon/control/client.js';
import { ControlServer } from '../../../daemon/control/server.js';
import { FakeBackend, samplePeers, sampleStatus, serveFakeBackend } from './fake-backend.js';

async function setup(t: import('ava').ExecutionContext) {
  const served = await serveFakeBackend(t);
  return { ...served, client: new ControlClient({ socketPath: served.socketPath }) };
}

function raw(socketPath: string, method: string, path: string, body?: string): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, headers: { host: 'x' } }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('the socket is mode 0600 and removed at stop', async (t) => {
  const { socketPath, server } = await setup(t);
  t.is(statSync(socketPath).mode & 0o777, 0o600);
  await server.stop();
  t.false(existsSync(socketPath));
});

test('typed client round trip for every command', async (t) => {
  const { client, backend } = await setup(t);
  t.deepEqual(await client.status(), sampleStatus);
  t.deepEqual((await client.peers({ dead: false })).peers, samplePeers);
  t.deepEqual((await client.peers({ dead: true })).peers.map((p) => p.prefix), ['fd5e:1:2:9::/64']);
  t.deepEqual(backend.lastPeersRequest, { dead: true });
  t.is((await client.tunnels()).tunnels.length, 1);
  t.is((await client.events({ limit: 1 })).events.length, 1);
  t.deepEqual((await client.reload()).applied.map((i) => i.key), ['babel.hello_interval']);
  const help = await client.help();
  t.deepEqual(help.commands.map((c) => c.name), ['status', 'peers', 'tunnels', 'events', 'reload']);
  t.true(help.commands.every((c) => c.description.length > 10));
});

const bad: Array<{ name: string; method: string; path: string; body?: string; status: number; code: string }> = [
  { name: 'unknown path', method: 'GET', path: '/v1/nope', status: 404, code: 'RN_CONTROL_NOT_FOUND' },
  { name: 'wrong method', method: 'POST', path: '/v1/status', status: 405, code: 'RN_CONTROL_METHOD' },
  { name: 'unknown query parameter', method: 'GET', path: '/v1/peers?deadd=1', status: 400, code: 'RN_CONTROL_BAD_REQUEST' },
  { name: 'bad dead value', method: 'GET', path: '/v1/peers?dead=maybe', status: 400, code: 'RN_CONTROL_BAD_REQUEST' },
  { name: 'bad limit', method: 'GET', path: '/v1/events?limit=-3', status: 400, code: 'RN_CONTROL_BAD_REQUEST' },
  { name: 'unknown body field', method: 'POST', path: '/v1/reload', body: '{"force":true}', status: 400, code: 'RN_CONTROL_BAD_REQUEST' },
  { name: 'body not JSON', method: 'POST', path: '/v1/reload', body: '{oops', status: 400, code: 'RN_CONTROL_BAD_REQUEST' },
  { name: 'body an array', method: 'POST', path: '/v1/reload', body: '[]', status: 400, code: 'RN_CONTROL_BAD_REQUEST' },
];

for (const c of bad) {
  test(`bad request gets a JSON error and the server keeps serving: ${c.name}`, async (t) => {
    const { socketPath, client } = await setup(t);
    const res = await raw(socketPath, c.method, c.path, c.body);
    t.is(res.status, c.status);
    t.is(res.json.error.code, c.code);
    t.is(typeof res.json.error.message, 'string');
    t.is((await client.status()).prefix, sampleStatus.prefix);
  });
}

test('a ResilnetError from the backend keeps its code; other errors become RN_CONTROL_INTERNAL', async (t) => {
  const { client, backend } = await setup(t);
  backend.reloadResult = new ConfigError('config invalid at /x.toml: babel.hello_interval: Too small');
  const err = await t.throwsAsync(client.reload());
  t.is((err as any).code, 'RN_CONFIG_INVALID');
  t.regex(err!.message, /babel\.hello_interval/);
  backend.reloadResult = new TypeError('boom');
  const err2 = await t.throwsAsync(client.reload());
  t.is((err2 as any).code, 'RN_CONTROL_INTERNAL');
});

test('help route answers on /v1/help', async (t) => {
  const { socketPath } = await setup(t);
  const res = await raw(socketPath, 'GET', '/v1/help');
  t.is(res.status, 200);
  t.true(res.json.commands.some((c: any) => c.name === 'reload' && c.method === 'POST'));
});

test('client: nobody listening is RN_DAEMON_UNREACHABLE with a hint', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rn-ctl-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const err = await t.throwsAsync(new ControlClient({ socketPath: join(dir, 'none.sock') }).status());
  t.is((err as any).code, 'RN_DAEMON_UNREACHABLE');
  t.regex((err as any).hint, /systemctl status resilnet/);
});

test('a stale socket file is replaced; a live one is refused; a non-socket is refused', async (t) => {
  const { socketPath, dir } = await setup(t);
  const second = new ControlServer({ socketPath }, { backend: new FakeBackend(), log: pino({ level: 'silent' }) });
  const err = await t.throwsAsync(second.start());
  t.is((err as any).code, 'RN_DAEMON_ALREADY_RUNNING');

  const plain = join(dir, 'plain');
  writeFileSync(plain, 'x');
  const third = new ControlServer({ socketPath: plain }, { backend: new FakeBackend(), log: pino({ level: 'silent' }) });
  t.is(((await t.throwsAsync(third.start())) as any).code, 'RN_CONTROL_LISTEN_FAILED');
});

test('a socket left by a dead daemon is taken over', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rn-ctl-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const socketPath = join(dir, 'c.sock');
  // What kill -9 of a daemon leaves: the socket file, with nobody listening.
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(socketPath)}, () => console.log('up'))`]);
  await new Promise<void>((r) => child.stdout.once('data', () => r()));
  child.kill('SIGKILL');
  await new Promise<void>((r) => child.once('exit', () => r()));
  t.true(statSync(socketPath).isSocket());
  const server = new ControlServer({ socketPath }, { backend: new FakeBackend(), log: pino({ level: 'silent' }) });
  await server.start();
  t.teardown(() => server.stop());
  t.is((await new ControlClient({ socketPath }).status()).pid, sampleStatus.pid);
});
