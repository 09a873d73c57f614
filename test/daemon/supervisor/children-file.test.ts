import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  cleanStaleChildren,
  cmdlineMatches,
  parseChildrenFile,
  readChildrenFile,
  writeChildrenFile,
} from '../../../daemon/supervisor/children-file.js';
import { parseCmdline, parseProcStat, realProcAccess } from '../../../daemon/supervisor/proc.js';
import { realSpawner } from '../../../daemon/sys/spawner.js';
import { waitFor } from '../../fixtures/wait.js';

test('parseProcStat reads state and start time even with odd comm', (t) => {
  const line = '1234 (we ird) name)) S 1 1234 1234 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 98765 1000 10 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n';
  t.deepEqual(parseProcStat(line), { state: 'S', startTime: '98765' });
  t.is(parseProcStat('garbage'), undefined);
  t.is(parseProcStat('1 (x) S 1'), undefined);
});

test('parseCmdline splits NUL-separated argv', (t) => {
  t.deepEqual(parseCmdline('openvpn\0--dev\0rn1\0'), ['openvpn', '--dev', 'rn1']);
  t.deepEqual(parseCmdline(''), []);
});

const matchTable = [
  { name: 'same argv', rec: ['babeld', '-G', '/s'], cmd: ['babeld', '-G', '/s'], want: true },
  { name: 'different arg', rec: ['babeld', '-G', '/s'], cmd: ['babeld', '-G', '/t'], want: false },
  { name: 'netns prefix gone after exec', rec: ['ip', 'netns', 'exec', 'n1', 'openvpn', '--dev', 'x'], cmd: ['openvpn', '--dev', 'x'], want: true },
  { name: 'netns prefix still there', rec: ['ip', 'netns', 'exec', 'n1', 'openvpn'], cmd: ['ip', 'netns', 'exec', 'n1', 'openvpn'], want: true },
  { name: 'unrelated process', rec: ['openvpn', '--dev', 'x'], cmd: ['bash'], want: false },
  { name: 'empty cmdline (kernel thread)', rec: ['openvpn'], cmd: [], want: false },
];
for (const row of matchTable) {
  test(`cmdlineMatches: ${row.name}`, (t) => t.is(cmdlineMatches(row.rec, row.cmd), row.want));
}

test('parseChildrenFile never throws on garbage', (t) => {
  t.deepEqual(parseChildrenFile('not json'), []);
  t.deepEqual(parseChildrenFile('{"version":2,"children":[]}'), []);
  t.deepEqual(parseChildrenFile('{"version":1,"children":[{"name":1}]}'), []);
  t.deepEqual(parseChildrenFile('null'), []);
});

test('cleanStaleChildren stops only live processes that are still ours', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rn-stale-'));
  const ours = realSpawner.spawn({ name: 'ours', argv: ['sleep', '3001'] });
  const stubborn = realSpawner.spawn({ name: 'stubborn', argv: ['sh', '-c', 'trap \"\" TERM; while :; do sleep 0.05; done'] });
  const other = realSpawner.spawn({ name: 'other', argv: ['sleep', '3003'] });
  t.teardown(() => {
    for (const c of [ours, stubborn, other]) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  // Wait until the shells exec'd/started so /proc shows their final cmdline.
  await waitFor(() => realProcAccess.cmdline(ours.pid)?.[0] === 'sleep', { what: 'ours to exec sleep' });
  await waitFor(() => realProcAccess.cmdline(stubborn.pid)?.[0] === 'sh', { what: 'stubborn to exec sh' });
  writeChildrenFile(dir, [
    { name: 'ours', pid: ours.pid, argv: ['sleep', '3001'], startTime: realProcAccess.startTime(ours.pid)!, startedAtMs: 0 },
    { name: 'stubborn', pid: stubborn.pid, argv: ['sh', '-c', 'trap \"\" TERM; while :; do sleep 0.05; done'], startTime: realProcAccess.startTime(stubborn.pid)!, startedAtMs: 0 },
    // A reused PID: alive, but its cmdline is another program's.
    { name: 'reused', pid: other.pid, argv: ['openvpn', '--dev', 'rnx'], startedAtMs: 0 },
    // Right cmdline, wrong start time: also another process.
    { name: 'restarted', pid: other.pid, argv: ['sleep', '3003'], startTime: '1', startedAtMs: 0 },
    { name: 'gone', pid: 999_999_999, argv: ['sleep', '1'], startedAtMs: 0 },
  ]);
  const result = await cleanStaleChildren(dir, { graceMs: 500, pollMs: 20 });
  t.deepEqual(result.stopped.map((r) => r.name), ['ours', 'stubborn']);
  t.deepEqual(result.killed.map((r) => r.name), ['stubborn']);
  t.deepEqual(result.skipped.map((r) => r.name).sort(), ['gone', 'restarted', 'reused']);
  t.like(await ours.exited, { signal: 'SIGTERM' });
  t.like(await stubborn.exited, { signal: 'SIGKILL' });
  t.true(realProcAccess.alive(other.pid), 'the unrelated process survives');
  t.deepEqual(readChildrenFile(dir), []);
});

test('cleanStaleChildren with no file does nothing', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rn-stale-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'unrelated'), 'x');
  const result = await cleanStaleChildren(dir);
  t.deepEqual(result, { stopped: [], killed: [], skipped: [] });
});
