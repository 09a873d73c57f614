import test from 'ava';
import { FakeClock } from '../../fakes/fake-clock.js';
import { rejectionCode } from '../../fixtures/error-code.js';
import { applyCommands, isAlreadyGone, planNodeSetup, planNodeTeardown, planTunnelTeardown, runIp, type RunResult, type SysCommand } from '../../../daemon/sys/interfaces.js';

const spec = { prefix: 'fd5e:1:2:7::/64', networkPrefix: 'fd5e:1::/32' };

test('planNodeSetup (golden)', (t) => {
  t.deepEqual(planNodeSetup(spec).map((a) => a.join(' ')), [
    'sysctl -qw net.ipv6.conf.all.forwarding=1',
    'ip link set dev lo up',
    'ip -6 addr replace fd5e:1:2:7::1/64 dev lo',
    'ip -6 route replace unreachable fd5e:1::/32',
  ]);
});

test('planNodeTeardown (golden) and tunnel teardown', (t) => {
  t.deepEqual(planNodeTeardown(spec).map((a) => a.join(' ')), ['ip -6 route del unreachable fd5e:1::/32', 'ip -6 addr del fd5e:1:2:7::1/64 dev lo']);
  t.deepEqual(planTunnelTeardown('rnabc'), [['ip', 'link', 'del', 'dev', 'rnabc']]);
});

test('plans refuse malformed prefixes', (t) => {
  t.throws(() => planNodeSetup({ prefix: 'nope', networkPrefix: 'fd00::/8' }), { code: 'RN_PREFIX_INVALID' } as never);
});

test('applyCommands stops at the first failure with RN_SYS_COMMAND_FAILED', async (t) => {
  const ran: SysCommand[] = [];
  const run = async (argv: SysCommand): Promise<RunResult> => {
    ran.push(argv);
    return argv[1] === 'link' ? { argv, exitCode: 2, stderr: 'RTNETLINK answers: Operation not permitted' } : { argv, exitCode: 0, stderr: '' };
  };
  await t.throwsAsync(applyCommands(planNodeSetup(spec), { run }), { code: 'RN_SYS_COMMAND_FAILED', message: /Operation not permitted/ } as never);
  t.is(ran.length, 2);
});

test('a setup command that times out is run again; one that always times out is RN_SYS_COMMAND_TIMEOUT', async (t) => {
  const clock = new FakeClock(0);
  const tries = new Map<string, number>();
  const retried: string[] = [];
  const run = async (argv: SysCommand): Promise<RunResult> => {
    const key = argv.join(' ');
    const n = (tries.get(key) ?? 0) + 1;
    tries.set(key, n);
    return argv[1] === 'link' && n < 3 ? { argv, exitCode: -1, stderr: 'timed out after 10000 ms', timedOut: true } : { argv, exitCode: 0, stderr: '' };
  };
  const done = applyCommands(planNodeSetup(spec), { run, retry: { clock, onRetry: (r) => retried.push(r.argv.join(' ')) } });
  await clock.runUntilIdle();
  t.deepEqual(await done, []);
  t.is(tries.get('ip link set dev lo up'), 3);
  t.deepEqual(retried, ['ip link set dev lo up', 'ip link set dev lo up']);

  const hung = async (argv: SysCommand): Promise<RunResult> => ({ argv, exitCode: -1, stderr: 'timed out', timedOut: true });
  const failed = rejectionCode(applyCommands(planNodeSetup(spec), { run: hung, retry: { clock, attempts: 3 } }));
  await clock.runUntilIdle();
  t.is(await failed, 'RN_SYS_COMMAND_TIMEOUT');
});

test('best-effort teardown ignores objects already gone and reports the rest', async (t) => {
  const run = async (argv: SysCommand): Promise<RunResult> =>
    argv[2] === 'route' ? { argv, exitCode: 2, stderr: 'RTNETLINK answers: No such process' } : { argv, exitCode: 2, stderr: 'RTNETLINK answers: Permission denied' };
  const failures = await applyCommands(planNodeTeardown(spec), { bestEffort: true, run });
  t.deepEqual(failures.map((f) => f.argv[2]), ['addr']);
  t.true(isAlreadyGone('Cannot find device "rnx"'));
  t.false(isAlreadyGone('Permission denied'));
});

test('runIp runs only ip and sysctl, and never throws', async (t) => {
  t.like(await runIp(['rm', '-rf', '/']), { exitCode: -1 });
  const r = await runIp(['ip', '-V']);
  t.is(r.exitCode, 0);
  const bad = await runIp(['ip', 'link', 'show', 'dev', 'rn-no-such-if0']);
  t.not(bad.exitCode, 0);
  t.true(isAlreadyGone(bad.stderr));
});
