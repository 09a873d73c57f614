// The event lines on disk, so one peer's story survives restarts: a SQLite file
// of its own next to the peer DB (STATE_DIR/events.db), written only by the
// daemon through `EventWriter` and read by `resilnet events` (read-only, also
// while the daemon runs or when it is down). Its own file rather than a table in
// peers.db: an event write never waits for the peer DB's write lock (better-sqlite3
// is synchronous, so a wait would stall the event loop), pruning never touches the
// peer DB, the file can be deleted at any time without losing a peer, and an older
// resilnet still opens peers.db after a downgrade.
//
// Bounded by age and by rows (EVENT_RETENTION); pruning is two indexed DELETEs,
// run at open and then every PRUNE_EVERY_MS or PRUNE_EVERY_ROWS appended rows.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ResilnetError } from '../config/errors.js';
import type { EventKind, EventLine, EventSink } from './events.js';
import type { Clock } from './sys/clock.js';

export const EVENTS_DB_FILE = 'events.db';
export const EVENTS_SCHEMA_VERSION = 1;

export interface EventRetention {
  maxAgeMs: number;
  maxRows: number;
}
export const EVENT_RETENTION: EventRetention = { maxAgeMs: 30 * 24 * 3600_000, maxRows: 100_000 };

/** A stored line; `id` grows with every line, so `afterId` continues a read (`--follow`). */
export interface StoredEvent extends EventLine {
  id: number;
}

export interface EventQuery {
  /** Only lines about this peer (canonical prefix). */
  peer?: string;
  /** Only lines at or after this time. */
  sinceMs?: number;
  /** Only lines after this id; then the oldest `limit` of them, else the newest `limit`. */
  afterId?: number;
  limit: number;
}

export function eventsDbPath(stateDir: string): string {
  return join(stateDir, EVENTS_DB_FILE);
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS events (
    id    INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused, so a reader's cursor stays valid
    at_ms INTEGER NOT NULL,
    kind  TEXT NOT NULL,
    peer  TEXT,                               -- canonical prefix, when the line is about one peer
    text  TEXT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS events_at ON events (at_ms);
  CREATE INDEX IF NOT EXISTS events_peer ON events (peer, id);
`;

interface EventRow {
  id: number;
  at_ms: number;
  kind: EventKind;
  peer: string | null;
  text: string;
}

export class EventStore {
  private constructor(
    private readonly db: Database.Database,
    readonly path: string,
  ) {}

  /**
   * The daemon's side: creates and migrates the file. A short busy timeout: only
   * the daemon writes, and a write must never hold up its event loop for long.
   */
  static openForWriting(path: string): EventStore {
    return EventStore.open(path, (db) => {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('busy_timeout = 200');
      const version = checkVersion(db, path);
      if (version < EVENTS_SCHEMA_VERSION) {
        db.transaction(() => {
          db.exec(SCHEMA);
          db.pragma(`user_version = ${EVENTS_SCHEMA_VERSION}`);
        })();
      }
    }, {});
  }

  /** A reader's side (the CLI): never creates, migrates or writes the file, so it cannot disturb the daemon. */
  static openReadOnly(path: string): EventStore {
    if (!existsSync(path)) {
      throw new ResilnetError('RN_EVENTS_DB_OPEN', `there is no events DB at ${path}.`, {
        hint: 'The daemon writes every event line there, from its first line on; check node.state_dir in the --config you gave.',
      });
    }
    return EventStore.open(path, (db) => {
      if (checkVersion(db, path) < EVENTS_SCHEMA_VERSION) {
        throw new ResilnetError('RN_EVENTS_DB_OPEN', `the events DB ${path} has no events table yet: the daemon creates it with its first event line.`);
      }
    }, { readonly: true, fileMustExist: true, timeout: 2000 });
  }

  private static open(path: string, prepare: (db: Database.Database) => void, options: Database.Options): EventStore {
    let db: Database.Database | undefined;
    try {
      db = new Database(path, options);
      prepare(db);
      return new EventStore(db, path);
    } catch (err) {
      db?.close();
      if (err instanceof ResilnetError) throw err;
      throw new ResilnetError('RN_EVENTS_DB_OPEN', `cannot open the events DB ${path} (${(err as Error).message}).`, {
        cause: err,
        hint: 'It is STATE_DIR/events.db (node.state_dir in resilnet.toml). The daemon creates it; a damaged file can be deleted (only the event history is lost).',
      });
    }
  }

  /** Appends the lines in one transaction. Throws the SQLite error (the writer decides what to do). */
  append(lines: readonly EventLine[]): void {
    const insert = this.db.prepare('INSERT INTO events (at_ms, kind, peer, text) VALUES (?, ?, ?, ?)');
    this.db.transaction(() => {
      for (const l of lines) insert.run(l.atMs, l.kind, l.peer ?? null, l.text);
    })();
  }

  /** Deletes lines older than the age bound and beyond the row bound; returns how many went. */
  prune(nowMs: number, retention: EventRetention = EVENT_RETENTION): number {
    return this.db.transaction(() => {
      const old = this.db.prepare('DELETE FROM events WHERE at_ms < ?').run(nowMs - retention.maxAgeMs).changes;
      const over = this.db.prepare('DELETE FROM events WHERE id <= (SELECT MAX(id) FROM events) - ?').run(retention.maxRows).changes;
      return old + over;
    })();
  }

  /** Matching lines, oldest first (see `EventQuery` for which ones). */
  query(q: EventQuery): StoredEvent[] {
    const where: string[] = [];
    const params: unknown[] = [];
    if (q.peer !== undefined) (where.push('peer = ?'), params.push(q.peer));
    if (q.sinceMs !== undefined) (where.push('at_ms >= ?'), params.push(q.sinceMs));
    if (q.afterId !== undefined) (where.push('id > ?'), params.push(q.afterId));
    const order = q.afterId === undefined ? 'DESC' : 'ASC';
    const sql = `SELECT id, at_ms, kind, peer, text FROM events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id ${order} LIMIT ?`;
    const rows = this.db.prepare<unknown[], EventRow>(sql).all(...params, q.limit);
    if (order === 'DESC') rows.reverse();
    return rows.map((r) => ({ id: r.id, atMs: r.at_ms, kind: r.kind, text: r.text, ...(r.peer === null ? {} : { peer: r.peer }) }));
  }

  count(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

function checkVersion(db: Database.Database, path: string): number {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > EVENTS_SCHEMA_VERSION) {
    throw new ResilnetError('RN_EVENTS_DB_OPEN', `the events DB ${path} has schema version ${version}, newer than this resilnet understands (${EVENTS_SCHEMA_VERSION}).`, {
      hint: 'Upgrade resilnet, or delete the file (only the event history is lost).',
    });
  }
  return version;
}

// ---- the daemon's writer ---------------------------------------------------------

export interface EventWriterDeps {
  clock: Pick<Clock, 'nowMs' | 'setTimeout'>;
  /** Opens the store; called lazily, and again after a failure. */
  open: () => EventStore;
  log: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
}

export interface EventWriterOptions {
  /** Lines are written in batches, at most this long after they were added. */
  flushMs?: number;
  /** Lines kept while the DB cannot be written; the oldest go first. */
  maxPending?: number;
  /** After a failed write, the next try waits this long. */
  retryMs?: number;
  retention?: EventRetention;
}

export const PRUNE_EVERY_MS = 10 * 60_000;
export const PRUNE_EVERY_ROWS = 1000;

/**
 * The EventLog's sink in the daemon: `push` only queues (it never throws and never
 * touches the disk); a timer writes the queue in one transaction. A DB error is
 * logged once (and once more when writing works again), the lines stay queued
 * (bounded) and the write is tried again later: events never stop the daemon.
 */
export class EventWriter implements EventSink {
  private store: EventStore | undefined;
  private pending: EventLine[] = [];
  private cancelTimer: (() => void) | undefined;
  private failing = false;
  private droppedLines = 0;
  private sincePrune = 0;
  private lastPruneMs = -Infinity;
  private closed = false;
  private readonly flushMs: number;
  private readonly maxPending: number;
  private readonly retryMs: number;
  private readonly retention: EventRetention;

  constructor(
    private readonly deps: EventWriterDeps,
    options: EventWriterOptions = {},
  ) {
    this.flushMs = options.flushMs ?? 500;
    this.maxPending = options.maxPending ?? 5000;
    this.retryMs = options.retryMs ?? 30_000;
    this.retention = options.retention ?? EVENT_RETENTION;
  }

  push(line: EventLine): void {
    if (this.closed) return;
    this.pending.push(line);
    if (this.pending.length > this.maxPending) {
      this.droppedLines += this.pending.length - this.maxPending;
      this.pending.splice(0, this.pending.length - this.maxPending);
    }
    this.schedule(this.failing ? this.retryMs : this.flushMs);
  }

  /** Writes what is queued now; false when the DB could not be written (the lines stay queued). */
  flush(): boolean {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    if (this.pending.length === 0) return true;
    const batch = this.pending;
    try {
      this.store ??= this.deps.open();
      this.store.append(batch);
    } catch (err) {
      if (!this.failing) {
        this.deps.log.warn({ err, path: this.store?.path, queued: this.pending.length }, `cannot write event lines to the events DB; they stay queued (up to ${this.maxPending}) and the write is retried every ${this.retryMs / 1000} s`);
      }
      this.failing = true;
      this.store?.close();
      this.store = undefined;
      if (!this.closed) this.schedule(this.retryMs);
      return false;
    }
    this.pending = [];
    if (this.failing) this.deps.log.info({ lines: batch.length, dropped: this.droppedLines }, 'event lines are written to the events DB again');
    this.failing = false;
    this.sincePrune += batch.length;
    this.pruneWhenDue();
    return true;
  }

  /** Lines lost because the queue was full while the DB could not be written. */
  get dropped(): number {
    return this.droppedLines;
  }

  /** Writes what is left and closes the file; later pushes are ignored. */
  close(): void {
    this.closed = true;
    this.flush();
    this.cancelTimer?.();
    this.store?.close();
    this.store = undefined;
  }

  private schedule(ms: number): void {
    if (this.cancelTimer !== undefined) return;
    this.cancelTimer = this.deps.clock.setTimeout(() => {
      this.cancelTimer = undefined;
      this.flush();
    }, ms);
  }

  private pruneWhenDue(): void {
    const nowMs = this.deps.clock.nowMs();
    if (this.sincePrune < PRUNE_EVERY_ROWS && nowMs - this.lastPruneMs < PRUNE_EVERY_MS) return;
    this.sincePrune = 0;
    this.lastPruneMs = nowMs;
    try {
      this.store!.prune(nowMs, this.retention);
    } catch (err) {
      this.deps.log.warn({ err }, 'cannot prune the events DB; tried again later');
    }
  }
}

/** The sink the daemon gives its EventLog: STATE_DIR/events.db, written in batches. */
export function persistentEventSink(stateDir: string, deps: Omit<EventWriterDeps, 'open'>, options?: EventWriterOptions): EventWriter {
  return new EventWriter({ ...deps, open: () => EventStore.openForWriting(eventsDbPath(stateDir)) }, options);
}
