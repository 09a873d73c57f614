import test from 'ava';
import { childLineLevel, LAST_LINES, logChildOutput } from '../../../daemon/supervisor/child-log.js';
import { Supervisor } from '../../../daemon/supervisor/supervisor.js';
import type { ProcAccess } from '../../../daemon/supervisor/proc.js';
import type { ChildExit, Spawner } from '../../../daemon/sys/spawner.js';
import { FakeClock, flushMicrotasks } from '../../fakes/fake-clock.js';
import { FakeSpawner } from '../../fakes/fake-spawner.js';

const noProc: ProcAccess = { startTime: () => undefined, cmdline: () => undefined, kill: () => false, alive: () => false };

interface Logged {
  level: 'debug' | 'info' | 'warn' | 'error';
  fields: Record<string, unknown>;
  msg: string;
}

function setup(spawner: Spawner = new FakeSpawner()) {
  const clock = new FakeClock();
  const sup = new Supervisor({ spawner, clock, proc: noProc });
  const logged: Logged[] = [];
  const at = (level: Logged['level']) => (fields: object, msg: string) => void logged.push({ level, fields: fields as Record<string, unknown>, msg });
  const off = logChildOutput(sup, { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } as never);
  return { sup, spawner: spawner as FakeSpawner, logged, off };
}

test('openvpn and babeld lines get the level of what they say', (t) => {
  const cases: Array<[string, 'debug' | 'info' | 'warn' | 'error']> = [
    ['Late hello: bufferbloated neighbor fe80::b8c1:42ff:fe00:1 on rn1a2b3c4d5e6f', 'debug'],
    ['CRL: loaded 1 CRLs from file /run/resilnet/crl.pem', 'debug'],
    ['NOTE: the current --script-security setting may allow this configuration to call user-defined scripts', 'debug'],
    ['OpenVPN 2.6.3 x86_64-pc-linux-gnu [SSL (OpenSSL)] [LZO] [LZ4] [EPOLL]', 'info'],
    ['Initialization Sequence Completed', 'info'],
    ['TUN/TAP device rn-1a2b opened', 'info'],
    ['WARNING: file \'/run/resilnet/key.pem\' is group or others accessible', 'warn'],
    ['TLS Error: TLS key negotiation failed to occur within 60 seconds (check your network connectivity)', 'warn'],
    ['VERIFY ERROR: depth=0, error=certificate revoked: CN=fd5e:1:2:7::/64', 'warn'],
    ['DEPRECATED OPTION: --cipher set to \'AES-256-CBC\'', 'warn'],
    ["Couldn't determine channel of interface rn-1a2b: Operation not supported.", 'warn'],
    ['Options error: --up script fails with \'/run/resilnet/openvpn-up.sh\': No such file or directory', 'error'],
    ['ERROR: Cannot open TUN/TAP dev /dev/net/tun: No such file or directory (errno=2)', 'error'],
    ['Exiting due to fatal error', 'error'],
  ];
  for (const [line, level] of cases) t.is(childLineLevel(line), level, line);
});

test('every output line is logged with the child and its pid, at its level', async (t) => {
  const { sup, spawner, logged } = setup();
  sup.start({ name: 'babeld', argv: ['babeld'] });
  const child = spawner.last('babeld');
  child.emit('Noticed ifindex change for rn-1.');
  child.emit("Couldn't determine channel of interface rn-1: Operation not supported.");
  child.emit('   ');
  await flushMicrotasks();
  t.deepEqual(logged, [
    { level: 'info', fields: { child: 'babeld', childPid: child.pid }, msg: 'Noticed ifindex change for rn-1.' },
    { level: 'warn', fields: { child: 'babeld', childPid: child.pid }, msg: "Couldn't determine channel of interface rn-1: Operation not supported." },
  ]);
});

test('a child that exits unasked has its last lines logged again at error, once its output is over', async (t) => {
  const { sup, spawner, logged } = setup();
  sup.start({ name: 'openvpn:fd5e::/64', argv: ['openvpn'] });
  const child = spawner.last('openvpn:fd5e::/64');
  for (let i = 1; i <= LAST_LINES + 3; i++) child.emit(`line ${i}`);
  await flushMicrotasks();
  logged.length = 0;
  child.exit({ code: 1, signal: null });
  await flushMicrotasks();
  const errors = logged.filter((l) => l.level === 'error');
  t.is(errors[0]!.msg, `openvpn:fd5e::/64 exited with code 1 unasked; its last ${LAST_LINES} lines follow`);
  t.deepEqual(errors.slice(1).map((l) => l.msg), Array.from({ length: LAST_LINES }, (_, i) => `openvpn:fd5e::/64| line ${i + 4}`));
  t.is(errors.length, LAST_LINES + 1);
  t.true(errors.every((l) => l.fields.child === 'openvpn:fd5e::/64' && l.fields.childPid === child.pid));
});

test('a crash report waits for lines that arrive after the exit', async (t) => {
  // A child whose pipes still hold output when its exit is seen: the exit resolves before the lines end.
  let endLines!: () => void;
  const lines = (async function* () {
    yield 'ERROR: Cannot open TUN/TAP dev /dev/net/tun: No such file or directory (errno=2)';
    await new Promise<void>((r) => (endLines = r));
    yield 'Exiting due to fatal error';
  })();
  let exit!: (e: ChildExit) => void;
  const { sup, logged } = setup({ spawn: () => ({ pid: 777, lines, exited: new Promise((r) => (exit = r)), kill: () => true }) });
  sup.start({ name: 'openvpn:x', argv: ['openvpn'] });
  await flushMicrotasks();
  exit({ code: 1, signal: null });
  await flushMicrotasks();
  t.false(logged.some((l) => l.msg.includes('unasked')), 'no report before the output is over');
  endLines();
  await flushMicrotasks();
  t.deepEqual(logged.map((l) => [l.level, l.msg]), [
    ['error', 'ERROR: Cannot open TUN/TAP dev /dev/net/tun: No such file or directory (errno=2)'],
    ['error', 'Exiting due to fatal error'],
    ['error', 'openvpn:x exited with code 1 unasked; its last 2 lines follow'],
    ['error', 'openvpn:x| ERROR: Cannot open TUN/TAP dev /dev/net/tun: No such file or directory (errno=2)'],
    ['error', 'openvpn:x| Exiting due to fatal error'],
  ]);
});

test('a child the daemon stops gets no crash report', async (t) => {
  const { sup, spawner, logged } = setup();
  sup.start({ name: 'babeld', argv: ['babeld'] });
  spawner.last('babeld').emit('babeld 1.12.1 starting');
  await flushMicrotasks();
  await sup.stop('babeld');
  await flushMicrotasks();
  t.deepEqual(logged.map((l) => l.level), ['info']);
});

test('a child restarted at the daemon\'s request gets no crash report', async (t) => {
  const { sup, spawner, logged } = setup();
  sup.start({ name: 'openvpn:fd5e::/64', argv: ['openvpn'] });
  spawner.last('openvpn:fd5e::/64').emit('Initialization Sequence Completed');
  await flushMicrotasks();
  await sup.restart('openvpn:fd5e::/64');
  await flushMicrotasks();
  t.false(logged.some((l) => l.level === 'error'), logged.map((l) => l.msg).join('; '));
});

test('a child that cannot be spawned is logged at error with the reason', async (t) => {
  const { sup, spawner, logged, off } = setup();
  spawner.scripts.push({ failToSpawn: true });
  sup.start({ name: 'babeld', argv: ['babeld'] });
  await flushMicrotasks();
  t.is(logged.length, 1);
  t.is(logged[0]!.level, 'error');
  t.regex(logged[0]!.msg, /^babeld could not start: cannot start child: babeld \(fake spawn failure\)/);
  off();
  await sup.stopAll();
});
