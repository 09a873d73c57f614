// `peers`, `peers --dead`, `status` and `events` with the daemon down: a real peer
// DB and events DB in a temp state dir, a config pointing at them and at a
// control socket nobody listens on, and the CLI run through main().
import test from 'ava';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../../cli/main.js';
import { CONFIG_ENV } from '../../../cli/commands/node.js';
import { notAnsweringReason } from '../../../cli/commands/target.js';
import { ResilnetError } from '../../../config/errors.js';
import { followEvents, parseSince, toEventQuery } from '../../../cli/commands/events.js';
import { EventStore, eventsDbPath } from '../../../daemon/events-store.js';
import { PeerDb } from '../../../daemon/peers/peer-db.js';
import { errorCode } from '../../fixtures/error-code.js';

const LIVE = 'fd5e:1:2:8::/64';
const DEAD = 'fd5e:1:2:9::/64';
const NOW = Date.now();

interface Node {
  dir: string;
  config: string;
  socket: string;
  peerDb: string;
}

/** A node whose daemon is stopped: state written by a real PeerDb and EventStore, no control socket. */
function stoppedNode(t: { teardown: (fn: () => void) => void }): Node {
  const dir = mkdtempSync(join(tmpdir(), 'rn-offline-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const state = join(dir, 'state');
  mkdirSync(state);
  const socket = join(dir, 'run', 'control.sock');
  const config = join(dir, 'resilnet.toml');
  writeFileSync(config, `[registry]\nurl = "https://10.1.0.1:8443"\n[node]\nstate_dir = "${state}"\nrun_dir = "${join(dir, 'run')}"\n`);
  const db = new PeerDb(join(state, 'peers.db'));
  db.upsertPeer({ prefix: LIVE, addresses: ['10.1.0.8:1194'], source: 'registry' }, NOW - 60_000);
  db.upsertPeer({ prefix: DEAD, addresses: ['10.1.0.9:1194'], source: 'registry' }, NOW - 60_000);
  for (let i = 0; i < 3; i++) db.recordFailure(DEAD, 'connection refused', NOW - 30_000 + i);
  db.close();
  const events = EventStore.openForWriting(eventsDbPath(state));
  events.append([
    { atMs: NOW - 7200_000, kind: 'link-established', text: `link with ${DEAD} established via 10.1.0.9:1195/udp`, peer: DEAD },
    { atMs: NOW - 60_000, kind: 'link-lost', text: `link with ${DEAD} lost (openvpn exited with code 1)`, peer: DEAD },
    { atMs: NOW - 50_000, kind: 'link-established', text: `link with ${LIVE} established via 10.1.0.8:1195/udp`, peer: LIVE },
    { atMs: NOW - 30_000, kind: 'peer-dead', text: `peer ${DEAD} marked dead: 3 failed attempts (connection refused)`, peer: DEAD },
  ]);
  events.close();
  return { dir, config, socket, peerDb: join(state, 'peers.db') };
}

async function cli(argv: string[]) {
  let stdout = '';
  let stderr = '';
  const before = process.exitCode;
  const code = await main(argv, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } });
  process.exitCode = before;
  return { code, stdout, stderr };
}

test('peers --dead with the daemon down: the peer DB, read-only, and a note on stderr', async (t) => {
  const node = stoppedNode(t);
  const before = readFileSync(node.peerDb);
  const r = await cli(['peers', '--dead', '--config', node.config]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /^daemon not answering \(no control socket\): showing the peer DB as of \d{4}-\d\d-\d\dT/);
  t.regex(r.stdout, new RegExp(`^PEER\\s+CAUSE\\s+REASON.*\\n${DEAD.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\s+failures\\s+3 failed attempts \\(connection refused\\)`));
  t.notRegex(r.stdout, /fd5e:1:2:8::/);
  t.true(readFileSync(node.peerDb).equals(before));
});

test('peers --json with the daemon down says "source": "peer-db" and lists every peer', async (t) => {
  const node = stoppedNode(t);
  const r = await cli(['peers', '--json', '--config', node.config]);
  t.is(r.code, 0, r.stderr);
  const res = JSON.parse(r.stdout) as { source: string; asOfMs: number; peers: Array<{ prefix: string; dead: boolean; deadCause: string | null; nextRetryMs: number | null }> };
  t.is(res.source, 'peer-db');
  t.true(Math.abs(res.asOfMs - statSync(node.peerDb).mtimeMs) < 60_000);
  t.deepEqual(res.peers.map((p) => [p.prefix, p.dead, p.deadCause]), [[LIVE, false, null], [DEAD, true, 'failures']]);
  t.true(res.peers[1]!.nextRetryMs! > NOW - 30_000);
});

test('status with the daemon down: what the peer DB knows, and RESILNET_CONFIG names the config', async (t) => {
  const node = stoppedNode(t);
  process.env[CONFIG_ENV] = node.config;
  t.teardown(() => delete process.env[CONFIG_ENV]);
  const r = await cli(['status']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /daemon not answering \(no control socket\): showing the peer DB as of/);
  t.regex(r.stdout, /^daemon\s+not answering \(no control socket\)$/m);
  t.regex(r.stdout, /^peers\s+2 known, 1 live, 1 dead/m);
  const json = JSON.parse((await cli(['status', '--json'])).stdout) as { source: string; peers: unknown };
  t.is(json.source, 'peer-db');
  t.deepEqual(json.peers, { total: 2, live: 1, dead: 1 });
});

test('a socket that refuses the connection also falls back; without a readable config the daemon\'s error stays', async (t) => {
  const node = stoppedNode(t);
  // The socket path exists (left behind by a killed daemon) but nobody listens: connecting is refused.
  mkdirSync(join(node.dir, 'run'));
  writeFileSync(node.socket, '');
  const r = await cli(['peers', '--dead', '--config', node.config]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /^daemon not answering \(control socket refused the connection\)/);
  // Without a readable config there is nothing to fall back to: the daemon's error stays.
  const missing = await cli(['peers', '--socket', node.socket, '--config', join(node.dir, 'none.toml')]);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /cannot reach the resilnet daemon .*\n.*\(RN_DAEMON_UNREACHABLE\)\n$/);
});

test('events --peer P --since 1h: one peer\'s story from the events DB, oldest first', async (t) => {
  const node = stoppedNode(t);
  const r = await cli(['events', '--peer', DEAD, '--since', '1h', '--config', node.config]);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(r.stdout.trim().split('\n').map((l) => l.replace(/^\S+\s+/, '')), [
    `link with ${DEAD} lost (openvpn exited with code 1)`,
    `peer ${DEAD} marked dead: 3 failed attempts (connection refused)`,
  ]);
  const json = JSON.parse((await cli(['events', '--peer', DEAD, '--json', '--config', node.config])).stdout) as { source: string; events: unknown[] };
  t.is(json.source, 'events-db');
  t.is(json.events.length, 3);
});

test('events with the daemon down: the newest lines from the events DB, with a note', async (t) => {
  const node = stoppedNode(t);
  const r = await cli(['events', '--limit', '2', '--config', node.config]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /daemon not answering \(no control socket\): showing the events DB as of/);
  t.is(r.stdout.trim().split('\n').length, 2);
  t.regex(r.stdout, /marked dead/);
});

test('events --follow prints the matching lines, then new ones as the daemon writes them', async (t) => {
  const node = stoppedNode(t);
  const path = eventsDbPath(join(node.dir, 'state'));
  const out: string[] = [];
  const stop = new AbortController();
  let polls = 0;
  const writer = EventStore.openForWriting(path);
  t.teardown(() => writer.close());
  const follow = followEvents(path, toEventQuery({ peer: DEAD, since: '1h' }, NOW), { write: (s: string) => out.push(s) }, {
    json: false,
    signal: stop.signal,
    // Each poll: the daemon has written one more line (the second about another peer).
    sleep: async () => {
      polls++;
      if (polls === 1) writer.append([{ atMs: NOW, kind: 'peer-alive', text: `peer ${DEAD} reachable again`, peer: DEAD }]);
      if (polls === 2) writer.append([{ atMs: NOW, kind: 'link-lost', text: `link with ${LIVE} lost`, peer: LIVE }]);
      if (polls === 3) stop.abort();
    },
  });
  await follow;
  t.deepEqual(out.map((l) => l.replace(/^\S+\s+/, '').trim()), [
    `link with ${DEAD} lost (openvpn exited with code 1)`,
    `peer ${DEAD} marked dead: 3 failed attempts (connection refused)`,
    `peer ${DEAD} reachable again`,
  ]);
});

test('parseSince and toEventQuery: durations, ISO times and clear errors', (t) => {
  t.is(parseSince('1h', 10_000_000), 10_000_000 - 3_600_000);
  t.is(parseSince('90s', 100_000), 10_000);
  t.is(parseSince('2026-12-05T10:00:00Z', 0), Date.parse('2026-12-05T10:00:00Z'));
  t.is(errorCode(() => parseSince('yesterday', 0)), 'RN_CLI_USAGE');
  t.is(errorCode(() => toEventQuery({ peer: 'nope' }, 0)), 'RN_CLI_USAGE');
  t.deepEqual(toEventQuery({ peer: 'fd5e:0001:2:9::/64', since: '1m' }, 60_000), { limit: 10_000, peer: DEAD, sinceMs: 0 });
  t.deepEqual(toEventQuery({ limit: '5' }, 0), { limit: 5 });
});

test('notAnsweringReason: only a daemon that does not answer (or is still starting) is a reason to read the files', (t) => {
  const unreachable = (code: string) => new ResilnetError('RN_DAEMON_UNREACHABLE', 'x', { cause: Object.assign(new Error(code), { code }) });
  t.is(notAnsweringReason(unreachable('ENOENT')), 'no control socket');
  t.is(notAnsweringReason(unreachable('ETIMEDOUT')), 'no answer in time');
  t.is(notAnsweringReason(unreachable('EACCES')), 'EACCES');
  t.is(notAnsweringReason(new ResilnetError('RN_DAEMON_NOT_READY', 'starting')), 'still starting');
  t.is(notAnsweringReason(new ResilnetError('RN_CONTROL_INTERNAL', 'bug')), undefined);
  t.is(notAnsweringReason(new Error('other')), undefined);
});
