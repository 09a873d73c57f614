// `resilnet events`: the daemon's latest lines, or from the events DB (which the
// daemon writes within a second) one peer's story across restarts:
// `--peer P --since 1h --follow`. Without those flags the daemon answers from
// its in-memory ring; when it does not answer, the events DB does.
import type { Command } from 'commander';
import { ResilnetError } from '../../config/errors.js';
import { canonicalPrefix } from '../../config/ipv6.js';
import type { NodeConfig } from '../../config/node-config.js';
import type { ControlClient } from '../../daemon/control/client.js';
import { DEFAULT_EVENTS_LIMIT, MAX_EVENTS_LIMIT, type EventsResponse } from '../../daemon/control/protocol.js';
import { EventStore, eventsDbPath, type EventQuery, type StoredEvent } from '../../daemon/events-store.js';
import { writeJson, type CliIo } from '../io.js';
import { loadNodeConfig } from '../../config/node-config.js';
import { renderEvents } from './node-render.js';
import { fallbackNotice } from './peer-db-view.js';
import { configPath, daemonOrFiles, example, withTarget, type TargetOptions } from './target.js';

/** The `source` of events read from the events DB. */
export const EVENTS_DB_SOURCE = 'events-db';

export const FOLLOW_POLL_MS = 1000;

interface EventsOptions extends TargetOptions {
  json?: boolean;
  limit?: string;
  peer?: string;
  since?: string;
  follow?: boolean;
}

export function toEventsLimit(text: string | undefined): number {
  if (text === undefined) return DEFAULT_EVENTS_LIMIT;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > MAX_EVENTS_LIMIT) {
    throw new ResilnetError('RN_CLI_USAGE', `--limit must be an integer 1…${MAX_EVENTS_LIMIT} (got "${text}")`);
  }
  return n;
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `--since`: a duration back from now (90s, 30m, 1h, 2d) or an ISO 8601 time. */
export function parseSince(text: string, nowMs: number): number {
  const m = /^(\d+(?:\.\d+)?)\s*([smhd])$/.exec(text.trim());
  if (m) return nowMs - Number(m[1]) * UNIT_MS[m[2]!]!;
  const at = /^\d{4}-\d\d-\d\d/.test(text.trim()) ? Date.parse(text) : NaN;
  if (Number.isNaN(at)) {
    throw new ResilnetError('RN_CLI_USAGE', `--since must be a duration such as 90s, 30m, 1h, 2d or an ISO time such as 2026-12-05T10:00:00Z (got "${text}")`);
  }
  return at;
}

export function toEventQuery(opts: Pick<EventsOptions, 'limit' | 'peer' | 'since'>, nowMs: number): EventQuery {
  let peer: string | undefined;
  if (opts.peer !== undefined) {
    try {
      peer = canonicalPrefix(opts.peer);
    } catch (err) {
      throw new ResilnetError('RN_CLI_USAGE', `--peer must be a node prefix such as fd5e:1:2:7::/64 (got "${opts.peer}")`, { cause: err });
    }
  }
  // A time window asks for the whole story in it, unless --limit says otherwise.
  const limit = opts.limit === undefined && opts.since !== undefined ? MAX_EVENTS_LIMIT : toEventsLimit(opts.limit);
  return {
    limit,
    ...(peer === undefined ? {} : { peer }),
    ...(opts.since === undefined ? {} : { sinceMs: parseSince(opts.since, nowMs) }),
  };
}

/** The stored lines as the control API's response shape, marked as read from the DB. */
export function storedEventsResponse(events: StoredEvent[]): EventsResponse & { source: typeof EVENTS_DB_SOURCE } {
  return { source: EVENTS_DB_SOURCE, events, dropped: 0 };
}

/** One line of `--follow` output: the text form, or one JSON object per line. */
export function followLine(e: StoredEvent, json: boolean): string {
  return json ? `${JSON.stringify({ source: EVENTS_DB_SOURCE, ...e })}\n` : `${new Date(e.atMs).toISOString()}  ${e.text}\n`;
}

/**
 * Prints the matching lines, then polls for new ones every `pollMs` until the
 * signal ends it. The DB is opened read-only for each poll, so a daemon
 * restart or a file that appears later is picked up.
 */
export async function followEvents(
  path: string,
  query: EventQuery,
  out: { write(s: string): unknown },
  options: { json: boolean; signal: AbortSignal; pollMs?: number; sleep?: (ms: number, signal: AbortSignal) => Promise<void> },
): Promise<void> {
  const sleep = options.sleep ?? sleepMs;
  let afterId: number | undefined;
  while (!options.signal.aborted) {
    const lines = readStored(path, afterId === undefined ? query : { ...query, afterId, limit: MAX_EVENTS_LIMIT });
    for (const e of lines) out.write(followLine(e, options.json));
    afterId = lines.at(-1)?.id ?? afterId ?? 0;
    try {
      await sleep(options.pollMs ?? FOLLOW_POLL_MS, options.signal);
    } catch {
      return; // aborted
    }
  }
}

function readStored(path: string, query: EventQuery): StoredEvent[] {
  const store = EventStore.openReadOnly(path);
  try {
    return store.query(query);
  } finally {
    store.close();
  }
}

function sleepMs(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), reject(signal.reason)), { once: true });
  });
}

export function registerEventsCommand(program: Command, io: CliIo, client: (opts: TargetOptions) => ControlClient): void {
  example(
    withTarget(
      program
        .command('events')
        .description('show the membership and link changes, one line each: the daemon\'s latest, or with --peer/--since/--follow the history kept in STATE_DIR/events.db (across restarts)')
        .option('--limit <n>', `how many lines (default ${DEFAULT_EVENTS_LIMIT}; with --since all of them, up to ${MAX_EVENTS_LIMIT})`)
        .option('--peer <prefix>', 'only lines about this peer, e.g. fd5e:1:2:7::/64')
        .option('--since <when>', 'only lines since then: 90s, 30m, 1h, 2d or an ISO time')
        .option('--follow', 'keep printing new lines as the daemon writes them (Ctrl-C ends it; --json: one object per line)'),
    ),
    'resilnet events',
    'resilnet events --limit 20 --json',
    'resilnet events --peer fd5e:1234:5678:7::/64 --since 1h --follow',
  ).action(async (opts: EventsOptions) => {
    const nowMs = Date.now();
    const query = toEventQuery(opts, nowMs);
    if (opts.peer !== undefined || opts.since !== undefined || opts.follow) {
      const path = eventsDbPath(loadNodeConfig(configPath(opts).path).node.state_dir);
      if (opts.follow) {
        const stop = new AbortController();
        const onSignal = () => stop.abort();
        process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
        await followEvents(path, query, io.stdout, { json: opts.json === true, signal: stop.signal });
        return;
      }
      return print(io, opts.json, storedEventsResponse(readStored(path, query)));
    }
    const res = await daemonOrFiles(opts, () => client(opts).events({ limit: query.limit }), (config: NodeConfig, reason: string) => {
      let response: ReturnType<typeof storedEventsResponse>;
      try {
        response = storedEventsResponse(readStored(eventsDbPath(config.node.state_dir), query));
      } catch (err) {
        const e = err as ResilnetError;
        throw new ResilnetError(e.code, `the daemon is not answering (${reason}), and ${e.message}`, { cause: err, ...(e.hint ? { hint: e.hint } : {}) });
      }
      io.stderr.write(fallbackNotice(reason, 'events DB', response.events.at(-1)?.atMs ?? nowMs, nowMs));
      return response;
    });
    print(io, opts.json, 'daemon' in res ? res.daemon : res.offline);
  });
}

function print(io: CliIo, json: boolean | undefined, res: EventsResponse): void {
  if (json) writeJson(io, res);
  else io.stdout.write(renderEvents(res));
}
