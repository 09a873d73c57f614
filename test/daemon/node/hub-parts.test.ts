// Small parts the node's hub uses: component loggers, the sender of an adopted config,
// babeld's spec, and the host's setup and teardown commands (through a fake runner).
import test from 'ava';
import { pino, type Logger } from 'pino';
import { nodeBabelSpec } from '../../../daemon/node/babel-spec.js';
import { ComponentLogs } from '../../../daemon/node/component-logs.js';
import { configSender } from '../../../daemon/node/config-adopted.js';
import { startHostSetup, tearDownHost } from '../../../daemon/node/host-setup.js';
import type { SysCommand } from '../../../daemon/sys/interfaces.js';

test('one logger per component; a level change reaches the root and every child made so far', (t) => {
  const logs = new ComponentLogs(pino({ level: 'info' }, { write: () => undefined }));
  const babel = logs.for('babel');
  t.is(logs.for('babel'), babel);
  t.not(logs.for('tunnels'), babel);
  logs.setLevel('debug');
  t.deepEqual([logs.root.level, babel.level, logs.for('tunnels').level], ['debug', 'debug', 'debug']);
  t.is(logs.for('later').level, 'debug');
});

test('a config adopted from a peer is not sent back to it', (t) => {
  t.is(configSender('peer fd5e:1:0:7::/64'), 'fd5e:1:0:7::/64');
  t.is(configSender('registry'), undefined);
  t.is(configSender('file'), undefined);
  t.is(configSender('peer-db'), undefined);
});

test("babeld's socket and state file lie in the node's folders; the routes' source address comes from the prefix", (t) => {
  const spec = nodeBabelSpec({ run_dir: '/run/rn', state_dir: '/var/lib/rn' }, 'fd5e:1:0:7::/64', 4);
  t.like(spec, { socketPath: '/run/rn/babeld.sock', stateFile: '/var/lib/rn/babeld.state', helloIntervalSec: 4, ownPrefix: 'fd5e:1:0:7::/64', nodeAddress: 'fd5e:1:0:7::1' });
});

function fakeRun(fail: (argv: SysCommand) => string | undefined) {
  const ran: string[] = [];
  const run = async (argv: SysCommand) => {
    ran.push(argv.join(' '));
    const stderr = fail(argv);
    return { argv, exitCode: stderr === undefined ? 0 : 2, stderr: stderr ?? '' };
  };
  return { ran, run };
}

function warnings() {
  const lines: Array<{ obj: unknown; msg: string }> = [];
  const warn = (obj: unknown, msg?: string) => void lines.push({ obj, msg: msg ?? '' });
  return { lines, log: { warn } as unknown as Pick<Logger, 'warn'> };
}

test('host setup resolves with the error of a failed command instead of rejecting', async (t) => {
  const spec = { prefix: 'fd5e:1:0:7::/64', networkPrefix: 'fd5e:1::/48' };
  const ok = fakeRun(() => undefined);
  t.is(await startHostSetup(spec, { signal: new AbortController().signal, log: warnings().log, run: ok.run }), undefined);
  t.true(ok.ran.some((c) => c.includes('fd5e:1:0:7::1')));
  const bad = fakeRun(() => 'RTNETLINK answers: Operation not permitted');
  const failed = await startHostSetup(spec, { signal: new AbortController().signal, log: warnings().log, run: bad.run });
  t.truthy(failed);
  t.regex(String((failed!.err as Error).message), /Operation not permitted/);
  t.is(bad.ran.length, 1);
});

test('teardown removes the tunnels left, then the node setup, and logs what failed', async (t) => {
  const spec = { prefix: 'fd5e:1:0:7::/64', networkPrefix: 'fd5e:1::/48' };
  const { ran, run } = fakeRun((argv) => (argv.includes('rn-b') ? 'Operation not permitted' : undefined));
  const w = warnings();
  await tearDownHost(spec, ['rn-a', 'rn-b'], { log: w.log, run });
  const first = (name: string) => ran.findIndex((c) => c.includes(name));
  t.true(first('rn-a') >= 0 && first('rn-a') < first('rn-b'));
  t.true(ran.findIndex((c) => c.includes('fd5e:1:0:7::1')) > first('rn-b'));
  t.deepEqual(w.lines.map((l) => l.msg), ['teardown command failed']);
});
