import test from 'ava';
import { Notifier, notifyArgs, takeSystemdEnv } from '../../../daemon/systemd/notify.js';
import type { RunFileResult } from '../../../daemon/sys/run-file.js';
import { waitFor } from '../../fixtures/wait.js';
import { fakeNotifySocket } from '../../systemd/notify-socket.js';

test('the systemd variables are read once and taken out of the environment children inherit', (t) => {
  const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '120000000', WATCHDOG_PID: '77', PATH: '/usr/bin' };
  t.deepEqual(takeSystemdEnv(env, 77), { notifySocket: '/run/systemd/notify', watchdogMs: 120_000 });
  t.deepEqual(env, { PATH: '/usr/bin' });
  // A watchdog meant for another process (e.g. inherited from a shell under a unit) is not ours.
  t.deepEqual(takeSystemdEnv({ NOTIFY_SOCKET: '/n', WATCHDOG_USEC: '5000000', WATCHDOG_PID: '12' }, 77), { notifySocket: '/n', watchdogMs: undefined });
  t.deepEqual(takeSystemdEnv({ WATCHDOG_USEC: '5000000' }, 77), { notifySocket: undefined, watchdogMs: undefined });
  t.deepEqual(takeSystemdEnv({ NOTIFY_SOCKET: '/n', WATCHDOG_USEC: 'soon' }, 77), { notifySocket: '/n', watchdogMs: undefined });
});

test('assignments become systemd-notify arguments, each on one line', (t) => {
  t.deepEqual(notifyArgs({ READY: '1', STATUS: 'waiting\nfor babeld' }), ['READY=1', 'STATUS=waiting for babeld']);
});

function deferredRun() {
  const calls: string[][] = [];
  const pending: Array<(r: RunFileResult) => void> = [];
  const run = (file: string, args: string[]) => {
    calls.push([file, ...args]);
    return new Promise<RunFileResult>((r) => pending.push(r));
  };
  const finish = (exitCode = 0, stderr = '') => pending.shift()!({ exitCode, stdout: '', stderr, timedOut: false });
  return { calls, run, finish };
}

test('one systemd-notify at a time; what comes meanwhile is merged into the next, the latest STATUS winning', async (t) => {
  const { calls, run, finish } = deferredRun();
  const n = new Notifier('/run/systemd/notify', { run });
  n.send({ STATUS: 'starting' });
  n.send({ WATCHDOG: '1' });
  n.send({ STATUS: 'waiting for babeld' });
  n.send({ READY: '1', STATUS: 'running' });
  t.deepEqual(calls, [['env', 'NOTIFY_SOCKET=/run/systemd/notify', 'systemd-notify', 'STATUS=starting']]);
  finish();
  await waitFor(() => calls.length === 2, { what: 'second send', timeoutMs: 5_000 });
  t.deepEqual(calls[1], ['env', 'NOTIFY_SOCKET=/run/systemd/notify', 'systemd-notify', 'WATCHDOG=1', 'STATUS=running', 'READY=1']);
  finish();
  await n.flush();
  t.is(calls.length, 2);
});

test('a failing systemd-notify is reported once, and its recovery once', async (t) => {
  const { calls, run, finish } = deferredRun();
  const told: string[] = [];
  const n = new Notifier('/n', { run, onError: (m) => told.push(m), onRecovered: () => told.push('recovered') });
  for (const [code, err] of [[1, 'Failed to notify init system: Connection refused'], [1, 'again'], [0, ''], [0, '']] as const) {
    n.send({ WATCHDOG: '1' });
    await waitFor(() => calls.length > 0, { what: 'a send', timeoutMs: 5_000 });
    finish(code, err);
    await n.flush();
    calls.length = 0;
  }
  t.deepEqual(told, ['systemd-notify WATCHDOG=1 failed (Failed to notify init system: Connection refused)', 'recovered']);
});

test('without NOTIFY_SOCKET nothing is run', async (t) => {
  const { calls, run } = deferredRun();
  const n = new Notifier(undefined, { run });
  t.false(n.enabled);
  n.send({ READY: '1' });
  await n.flush();
  t.deepEqual(calls, []);
});

test('through the real systemd-notify, the assignments reach the socket with this process as sender', async (t) => {
  const socket = await fakeNotifySocket();
  t.teardown(() => socket.stop());
  const n = new Notifier(socket.path);
  n.send({ READY: '1', STATUS: 'running: 2 tunnels' });
  await n.flush();
  const got = await waitFor(() => socket.datagrams.find((d) => d.fields.READY === '1'), { what: 'READY=1 on the socket', timeoutMs: 20_000 });
  t.is(got.fields.STATUS, 'running: 2 tunnels');
  // As root systemd-notify may put its parent (us) in the credentials; without CAP_SYS_ADMIN it is its own PID.
  t.true(typeof got.pid === 'number' && got.pid > 0);
});
