import test from 'ava';
import { pino } from 'pino';
import { chooseLogFormat, logDestination } from '../../../daemon/log/destination.js';
import { fieldValue, formatLine, syslogPriority, type LogFormat } from '../../../daemon/log/format.js';

/** Lines a real pino logger writes through logDestination in `format`. */
function logWith(format: LogFormat, write: (log: pino.Logger) => void, stream: { isTTY?: boolean } = {}, env: NodeJS.ProcessEnv = {}): string[] {
  const out: string[] = [];
  const log = pino({ level: 'trace', base: { pid: process.pid }, timestamp: () => ',"time":"2026-12-05T15:09:33.123Z"' }, logDestination(format, { ...stream, write: (s) => out.push(s) }, env));
  write(log);
  return out;
}

test('under journald each record is one line prefixed with its syslog priority, no time', (t) => {
  const lines = logWith('journal', (log) => {
    const tunnels = log.child({ component: 'tunnels' });
    tunnels.trace('t');
    tunnels.debug({ peer: 'fd5e:1:2:7::/64' }, 'd');
    tunnels.info({ child: 'openvpn:fd5e:1:2:7::/64', pid: 99 }, 'Initialization Sequence Completed');
    tunnels.warn({ attempt: 2, argv: ['ip', 'link'] }, 'network setup command timed out; retrying');
    tunnels.error({ err: Object.assign(new Error('boom\nsecond line'), { code: 'RN_X' }) }, 'stop failed');
    log.fatal('gone');
  });
  t.deepEqual(lines, [
    '<7>tunnels: t\n',
    '<7>tunnels: d peer=fd5e:1:2:7::/64\n',
    '<6>tunnels: Initialization Sequence Completed pid=99 child=openvpn:fd5e:1:2:7::/64\n',
    '<4>tunnels: network setup command timed out; retrying attempt=2 argv=["ip","link"]\n',
    '<3>tunnels: stop failed err="boom\\nsecond line [RN_X]"\n',
    '<2>gone\n',
  ]);
});

test('on a terminal a record is a short human line: time, level, component, message, fields', (t) => {
  const plain = logWith('pretty', (log) => log.child({ component: 'events' }).info({ kind: 'link-established', peer: 'fd5e::/64' }, 'link with fd5e::/64 established via 10.0.0.2:1194'));
  t.deepEqual(plain, ['15:09:33.123 INFO  events: link with fd5e::/64 established via 10.0.0.2:1194 kind=link-established peer=fd5e::/64\n']);
  const coloured = logWith('pretty', (log) => log.warn('slow'), { isTTY: true });
  t.deepEqual(coloured, ['\x1b[2m15:09:33.123\x1b[0m \x1b[33mWARN \x1b[0m slow\n']);
  t.deepEqual(logWith('pretty', (log) => log.warn('slow'), { isTTY: true }, { NO_COLOR: '1' }), ['15:09:33.123 WARN  slow\n']);
});

test('json passes pino\'s own lines through; what is not a pino record passes unchanged', (t) => {
  const lines = logWith('json', (log) => log.info({ a: 1 }, 'hi'));
  t.deepEqual(lines.map((l) => JSON.parse(l)), [{ level: 30, time: '2026-12-05T15:09:33.123Z', pid: process.pid, a: 1, msg: 'hi' }]);
  t.is(formatLine('not json\n', 'journal'), 'not json\n');
  t.is(formatLine('[1,2]\n', 'pretty'), '[1,2]\n');
  t.is(formatLine('{"msg":"no level"}\n', 'journal'), '{"msg":"no level"}\n');
});

test('syslog priorities and field values', (t) => {
  t.deepEqual([10, 20, 30, 40, 50, 60].map(syslogPriority), [7, 7, 6, 4, 3, 2]);
  t.is(fieldValue('plain'), 'plain');
  t.is(fieldValue('two words'), '"two words"');
  t.is(fieldValue('a=b'), '"a=b"');
  t.is(fieldValue(null), 'null');
  t.is(fieldValue({ x: [1] }), '{"x":[1]}');
  t.is(fieldValue({ type: 'Error', message: 'm', stack: 'Error: m\n at x' }), '"m"');
});

test('the format follows where stdout goes: journald, a terminal, else JSON; RESILNET_LOG_FORMAT overrides', (t) => {
  const identity = (fd: number) => (fd === 1 ? '8:42' : undefined);
  t.is(chooseLogFormat({ JOURNAL_STREAM: '8:42' }, { write: () => {}, fd: 1 }, identity), 'journal');
  // JOURNAL_STREAM inherited by a process whose stdout is elsewhere (e.g. run by hand from a service's shell).
  t.is(chooseLogFormat({ JOURNAL_STREAM: '8:43' }, { write: () => {}, fd: 1 }, identity), 'json');
  t.is(chooseLogFormat({ JOURNAL_STREAM: '8:43' }, { write: () => {}, fd: 1, isTTY: true }, identity), 'pretty');
  t.is(chooseLogFormat({}, { write: () => {}, isTTY: true }, identity), 'pretty');
  t.is(chooseLogFormat({}, { write: () => {} }, identity), 'json');
  t.is(chooseLogFormat({ RESILNET_LOG_FORMAT: 'journal' }, { write: () => {}, isTTY: true }, identity), 'journal');
  const err = t.throws(() => chooseLogFormat({ RESILNET_LOG_FORMAT: 'xml' }, { write: () => {} }, identity));
  t.is((err as { code?: string }).code, 'RN_CONFIG_INVALID');
  t.regex(err!.message, /Use one of json, pretty, journal/);
});
