import test from 'ava';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventLog, type EventLine } from '../../daemon/events.js';
import { EventStore, EventWriter, eventsDbPath, persistentEventSink } from '../../daemon/events-store.js';
import { FakeClock } from '../fakes/fake-clock.js';
import { errorCode } from '../fixtures/error-code.js';

const P = 'fd5e:1:2:7::/64';
const Q = 'fd5e:1:2:8::/64';

function tempDir(t: { teardown: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'rn-events-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function recordingLog() {
  const warned: string[] = [];
  const infos: string[] = [];
  return { warned, infos, log: { warn: (_o: object, m: string) => warned.push(m), info: (_o: object, m: string) => infos.push(m) } };
}

const line = (atMs: number, text: string, peer?: string): EventLine => ({ atMs, kind: 'link-lost', text, ...(peer ? { peer } : {}) });

test('EventStore: query by peer and since, newest `limit` oldest first, and continue after an id', (t) => {
  const store = EventStore.openForWriting(join(tempDir(t), 'events.db'));
  store.append([line(1000, 'a', P), line(2000, 'b', Q), line(3000, 'c', P), line(4000, 'd'), line(5000, 'e', P)]);
  t.deepEqual(store.query({ limit: 10 }).map((e) => e.text), ['a', 'b', 'c', 'd', 'e']);
  t.deepEqual(store.query({ peer: P, limit: 10 }).map((e) => e.text), ['a', 'c', 'e']);
  t.deepEqual(store.query({ peer: P, sinceMs: 3000, limit: 10 }).map((e) => e.text), ['c', 'e']);
  t.deepEqual(store.query({ limit: 2 }).map((e) => e.text), ['d', 'e']);
  const [first] = store.query({ limit: 1, peer: P, sinceMs: 0, afterId: 0 });
  t.is(first!.text, 'a');
  t.deepEqual(store.query({ peer: P, afterId: first!.id, limit: 1 }).map((e) => e.text), ['c']);
  t.deepEqual(store.query({ limit: 10 }).find((e) => e.text === 'd'), { id: 4, atMs: 4000, kind: 'link-lost', text: 'd' });
  store.close();
});

test('EventStore.prune: lines older than the age bound and beyond the row bound go; ids are never reused', (t) => {
  const store = EventStore.openForWriting(join(tempDir(t), 'events.db'));
  store.append(Array.from({ length: 10 }, (_, i) => line(i * 1000, `l${i}`)));
  t.is(store.prune(10_000, { maxAgeMs: 7000, maxRows: 100 }), 3); // l0, l1, l2 are older than 3000
  t.is(store.prune(10_000, { maxAgeMs: 7000, maxRows: 4 }), 3); // keep the newest 4
  t.deepEqual(store.query({ limit: 100 }).map((e) => e.text), ['l6', 'l7', 'l8', 'l9']);
  t.is(store.prune(10_000, { maxAgeMs: 0, maxRows: 4 }), 4);
  t.is(store.count(), 0);
  store.append([line(20_000, 'next')]);
  t.is(store.query({ limit: 1 })[0]!.id, 11);
  store.close();
});

test('EventStore.openReadOnly: a missing file is a clear error and is not created; it reads while the daemon writes, and cannot write', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'events.db');
  t.is(errorCode(() => EventStore.openReadOnly(path)), 'RN_EVENTS_DB_OPEN');
  t.false(existsSync(path));
  const writer = EventStore.openForWriting(path);
  writer.append([line(1, 'kept', P)]);
  const reader = EventStore.openReadOnly(path);
  t.deepEqual(reader.query({ peer: P, limit: 5 }).map((e) => e.text), ['kept']);
  // The daemon keeps writing while a reader is open.
  writer.append([line(2, 'while read', P)]);
  t.deepEqual(reader.query({ peer: P, limit: 5 }).map((e) => e.text), ['kept', 'while read']);
  t.is((t.throws(() => reader.append([line(3, 'nope')]), { any: true }) as { code?: string }).code, 'SQLITE_READONLY');
  reader.close();
  writer.close();
});

// SQLite may add an empty -wal and a -shm index next to a WAL file a reader opens; the data stays as it was.
test('EventStore.openReadOnly on a stopped daemon\'s file leaves its data byte for byte as it was', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'events.db');
  const writer = EventStore.openForWriting(path);
  writer.append([line(1, 'kept', P)]);
  writer.close();
  const before = { bytes: readFileSync(path), mtimeMs: statSync(path).mtimeMs };
  const reader = EventStore.openReadOnly(path);
  t.deepEqual(reader.query({ peer: P, limit: 5 }).map((e) => e.text), ['kept']);
  reader.close();
  t.true(readFileSync(path).equals(before.bytes));
  t.is(statSync(path).mtimeMs, before.mtimeMs);
  const wal = join(dir, 'events.db-wal');
  t.is(existsSync(wal) ? statSync(wal).size : 0, 0);
});

test('EventWriter: lines are written in one batch after flushMs, never during push', async (t) => {
  const clock = new FakeClock(1_000);
  const dir = tempDir(t);
  const { log, warned } = recordingLog();
  const writer = persistentEventSink(dir, { clock, log }, { flushMs: 500 });
  writer.push(line(1_000, 'one', P));
  writer.push(line(1_001, 'two', P));
  t.false(existsSync(eventsDbPath(dir))); // push never touches the disk
  await clock.advance(500);
  const reader = EventStore.openReadOnly(eventsDbPath(dir));
  t.deepEqual(reader.query({ limit: 10 }).map((e) => e.text), ['one', 'two']);
  reader.close();
  writer.close();
  t.deepEqual(warned, []);
});

test('EventWriter: a DB that cannot be written is logged once, lines stay queued (bounded) and are written when it works again', async (t) => {
  const clock = new FakeClock(1_000);
  const dir = tempDir(t);
  const path = join(dir, 'events.db');
  const { log, warned, infos } = recordingLog();
  let broken = true;
  const writer = new EventWriter(
    { clock, log, open: () => (broken ? EventStore.openForWriting(join(dir, 'missing-dir', 'events.db')) : EventStore.openForWriting(path)) },
    { flushMs: 100, retryMs: 10_000, maxPending: 3 },
  );
  for (const i of [1, 2, 3, 4]) writer.push(line(i, `l${i}`));
  await clock.advance(100);
  t.is(warned.length, 1);
  writer.push(line(5, 'l5'));
  await clock.advance(5_000);
  t.is(warned.length, 1); // still failing: not logged again
  broken = false;
  await clock.advance(10_000);
  const reader = EventStore.openReadOnly(path);
  t.deepEqual(reader.query({ limit: 10 }).map((e) => e.text), ['l3', 'l4', 'l5']);
  reader.close();
  t.is(writer.dropped, 2);
  t.is(infos.length, 1);
  writer.close();
});

test('events survive a daemon restart: one peer\'s story from two EventLogs on the same state dir', async (t) => {
  const clock = new FakeClock(1_000_000);
  const dir = tempDir(t);
  const daemon = () => {
    const sink = persistentEventSink(dir, { clock, log: recordingLog().log });
    return { sink, events: new EventLog({ clock, sink }) };
  };
  const first = daemon();
  first.events.add('link-established', `link with ${P} established via 10.1.0.7:1195/udp`, P);
  first.events.add('link-established', `link with ${Q} established via 10.1.0.8:1195/udp`, Q);
  await clock.advance(60_000);
  first.events.add('link-lost', `link with ${P} lost (nothing heard for 1.0 s)`, P);
  first.sink.close(); // the daemon stops

  await clock.advance(60_000);
  const second = daemon();
  t.deepEqual(second.events.list(), []); // the in-memory ring starts empty
  second.events.add('link-restored', `link with ${P} restored`, P);
  second.sink.flush();

  const reader = EventStore.openReadOnly(eventsDbPath(dir));
  t.deepEqual(reader.query({ peer: P, sinceMs: clock.nowMs() - 3600_000, limit: 100 }).map((e) => e.text), [
    `link with ${P} established via 10.1.0.7:1195/udp`,
    `link with ${P} lost (nothing heard for 1.0 s)`,
    `link with ${P} restored`,
  ]);
  reader.close();
  second.sink.close();
});
