import test from 'ava';
import { BabelClient } from '../../../daemon/babel/client.js';
import { MonitorRepeats } from '../../../daemon/babel/repeats.js';
import { routeCountsByInterface, applyBabelEvent, emptyBabelTable } from '../../../daemon/babel/table.js';
import { systemClock } from '../../../daemon/sys/clock.js';
import { fakeLineServer, tempSocketPath } from '../../fakes/fake-line-server.js';
import { readTranscript } from '../../fixtures/load.js';

const dump = readTranscript('babeld-1.12.1-dump.txt');
const BANNER = ['BABEL 1.0', 'version babeld-1.12.1', 'host vm', 'my-id 72:5c:4b:ff:fe:4c:bf:3e', 'ok'];

/** Replies recorded in the dump fixture (first session), keyed by request. */
function firstDumpReply(): string[] {
  const out: string[] = [];
  let inside = false;
  for (const e of dump.entries) {
    if (e.dir === 'sent') {
      if (inside) break;
      inside = e.line === 'dump';
      continue;
    }
    if (inside) out.push(e.line);
    if (inside && e.line === 'ok') break;
  }
  return out;
}

/** A fake babeld replaying captured replies on a Unix socket. */
function fakeBabeld(path: string, opts: { monitorLines?: string[]; closeAfterMonitor?: boolean; silent?: boolean } = {}) {
  return fakeLineServer(path, {
    greeting: BANNER,
    silent: opts.silent,
    onLine: (line, s) => {
      if (line === 'dump') s.write(firstDumpReply().join('\n') + '\n');
      else if (line === 'monitor') {
        s.write([...(opts.monitorLines ?? []), 'ok'].join('\n') + '\n');
        if (opts.closeAfterMonitor) setTimeout(() => s.destroy(), 20);
      } else if (line.startsWith('interface ') || line.startsWith('flush ')) s.write('ok\n');
      else if (line === 'die') s.destroy();
      else s.write('bad\n');
    },
  });
}

const tmp = (t: { teardown(fn: () => void): void }): string => tempSocketPath(t, 'babel', 'babeld.sock');

test('request returns data lines and status; dump folds into a table', async (t) => {
  const path = tmp(t);
  const fake = fakeBabeld(path);
  await fake.listen();
  const client = new BabelClient({ socketPath: path, clock: systemClock });
  t.teardown(async () => { client.close(); await fake.close(); });
  const table = await client.dump();
  t.deepEqual([...routeCountsByInterface(table)], [['rn2cf797a6f7066', 1]]);
  t.like(client.banner[1], { kind: 'version', version: 'babeld-1.12.1' });
  t.deepEqual(await client.request('interface x type tunnel hello-interval 1'), { status: 'ok', text: '', events: [] });
  t.is((await client.request('bogus')).status, 'bad');
  await t.throwsAsync(client.configure('bogus'), { code: 'RN_BABEL_REQUEST_REFUSED' } as never);
  await t.throwsAsync(client.request('two\nlines'), { code: 'RN_BABEL_BAD_REQUEST' } as never);
  // Concurrent requests are serialised over one connection.
  const replies = await Promise.all([client.request('interface a'), client.request('bogus'), client.request('flush interface a')]);
  t.deepEqual(replies.map((r) => r.status), ['ok', 'bad', 'ok']);
  t.is(fake.connections(), 1);
});

test('dumpInterfaces keeps the interfaces of a dump and drops its other lines unparsed', async (t) => {
  const path = tmp(t);
  const fake = fakeBabeld(path);
  await fake.listen();
  const client = new BabelClient({ socketPath: path, clock: systemClock });
  t.teardown(async () => { client.close(); await fake.close(); });
  const whole = await client.dump();
  t.true(whole.routes.size > 0 && whole.neighbours.size > 0, 'the captured dump has routes and neighbours');
  const interfaces = await client.dumpInterfaces();
  t.deepEqual([...interfaces], [...whole.interfaces]);
  t.true(interfaces.size > 0);
  const reply = await client.request('dump', { keep: () => false });
  t.is(reply.status, 'ok');
  t.deepEqual(reply.events, [], 'no data line parsed');
  t.is((await client.request('bogus', { keep: () => false })).status, 'bad', 'the status line is always read');
});

test('a request waits for babeld to come up (socket appears later)', async (t) => {
  const path = tmp(t);
  const fake = fakeBabeld(path);
  const client = new BabelClient({ socketPath: path, clock: systemClock, requestTimeoutMs: 5000 });
  t.teardown(async () => { client.close(); await fake.close(); });
  const p = client.request('interface x');
  setTimeout(() => void fake.listen(), 300);
  t.is((await p).status, 'ok');
});

test('a dead socket gives RN_BABEL_UNREACHABLE, and the client recovers afterwards', async (t) => {
  const path = tmp(t);
  let fake = fakeBabeld(path);
  await fake.listen();
  const client = new BabelClient({ socketPath: path, clock: systemClock, requestTimeoutMs: 800 });
  t.teardown(async () => { client.close(); await fake.close(); });
  await t.throwsAsync(client.request('die'), { code: 'RN_BABEL_UNREACHABLE' } as never);
  await fake.close();
  await t.throwsAsync(client.request('interface x'), { code: 'RN_BABEL_UNREACHABLE' } as never);
  fake = fakeBabeld(path);
  await fake.listen();
  t.is((await client.request('interface x')).status, 'ok');
});

test('a silent babeld times out instead of hanging', async (t) => {
  const path = tmp(t);
  const fake = fakeBabeld(path, { silent: true });
  await fake.listen();
  const client = new BabelClient({ socketPath: path, clock: systemClock, requestTimeoutMs: 300 });
  t.teardown(async () => { client.close(); await fake.close(); });
  await t.throwsAsync(client.request('dump'), { code: 'RN_BABEL_UNREACHABLE' } as never);
});

test('monitorEach hands over reset + replay, and reconnects after the socket dies', async (t) => {
  const path = tmp(t);
  const monitorLines = readTranscript('babeld-1.12.1-monitor.txt').received.slice(5, 20);
  const fake = fakeBabeld(path, { monitorLines, closeAfterMonitor: true });
  await fake.listen();
  const client = new BabelClient({ socketPath: path, clock: systemClock, maxBackoffMs: 100 });
  const abort = new AbortController();
  t.teardown(async () => { abort.abort(); client.close(); await fake.close(); });
  let resets = 0;
  let table = emptyBabelTable();
  let count = 0;
  await client.monitorEach((ev) => {
    table = applyBabelEvent(table, ev);
    count++;
    if (ev.kind === 'reset') resets++;
    if (resets === 3) abort.abort();
  }, { signal: abort.signal });
  t.is(resets, 3);
  // babeld's repeated changes are left out (repeats.test.ts): each session yields the others.
  const repeats = new MonitorRepeats();
  const news = monitorLines.filter((l) => !repeats.isRepeat(l)).length;
  t.true(news < monitorLines.length, 'the captured lines hold repeats');
  t.true(count >= 2 * (news + 1), `${count} events`);
  t.is(table.routes.size, 0, 'a reset starts from an empty table');
  t.true(fake.connections() >= 3);
});

test('monitorEach: a consumer that throws loses that event only, and the error is handed to onError', async (t) => {
  const path = tmp(t);
  const monitorLines = readTranscript('babeld-1.12.1-monitor.txt').received.slice(5, 20);
  const fake = fakeBabeld(path, { monitorLines });
  await fake.listen();
  const client = new BabelClient({ socketPath: path, clock: systemClock });
  t.teardown(async () => { client.close(); await fake.close(); });
  const kinds: string[] = [];
  const errors: string[] = [];
  await client.monitorEach((ev) => {
    kinds.push(ev.kind);
    if (kinds.length === 2) throw new Error('consumer bug');
    if (ev.kind === 'ok') client.close();
  }, { onError: (err, ev) => errors.push(`${(err as Error).message} (${ev.kind})`) });
  t.is(errors.length, 1);
  t.regex(errors[0]!, /^consumer bug \(/);
  t.is(kinds.at(-1), 'ok', 'events after the failing one still arrived');
  t.true(kinds.length > 3);
});

test('close() ends a monitor and fails later requests', async (t) => {
  const path = tmp(t);
  const fake = fakeBabeld(path, { monitorLines: [] });
  await fake.listen();
  const client = new BabelClient({ socketPath: path, clock: systemClock });
  t.teardown(() => fake.close());
  const seen: string[] = [];
  await client.monitorEach((ev) => {
    seen.push(ev.kind);
    if (ev.kind === 'ok') client.close();
  });
  t.deepEqual(seen, ['reset', 'ok']);
  await t.throwsAsync(client.request('dump'), { code: 'RN_BABEL_UNREACHABLE' } as never);
});
