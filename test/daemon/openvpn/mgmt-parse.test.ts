import test from 'ava';
import {
  isNotification,
  MgmtReplyFramer,
  parseLoadStats,
  parseMgmtLine,
  parsePidReply,
  parseStateFields,
  parseStatusBlock,
  type MgmtLine,
  type MgmtReply,
} from '../../../daemon/openvpn/mgmt-parse.js';
import { readTranscript } from '../../fixtures/load.js';

const table: Array<{ name: string; input: string; want: MgmtLine }> = [
  { name: 'banner', input: ">INFO:OpenVPN Management Interface Version 5 -- type 'help' for more info", want: { kind: 'info', text: "OpenVPN Management Interface Version 5 -- type 'help' for more info" } },
  {
    name: 'state connected',
    input: '>STATE:1795307878,CONNECTED,SUCCESS,,10.142.0.2,48990,10.142.0.1,1195',
    want: { kind: 'state', state: { timeSec: 1795307878, name: 'CONNECTED', description: 'SUCCESS', localTunIp: '', remoteIp: '10.142.0.2', remotePort: '48990', localIp: '10.142.0.1', localPort: '1195' } },
  },
  {
    name: 'state reconnecting',
    input: '>STATE:1795307880,RECONNECTING,SIGUSR1,,,,,',
    want: { kind: 'state', state: { timeSec: 1795307880, name: 'RECONNECTING', description: 'SIGUSR1', localTunIp: '', remoteIp: '', remotePort: '', localIp: '', localPort: '' } },
  },
  { name: 'bytecount', input: '>BYTECOUNT:1917,1922', want: { kind: 'bytecount', rxBytes: 1917, txBytes: 1922 } },
  { name: 'log', input: '>LOG:1795301922,I,Initialization Sequence Completed', want: { kind: 'log', timeSec: 1795301922, flags: 'I', message: 'Initialization Sequence Completed' } },
  { name: 'log with commas', input: '>LOG:1,W,a, b, c', want: { kind: 'log', timeSec: 1, flags: 'W', message: 'a, b, c' } },
  { name: 'hold', input: ">HOLD:Waiting for hold release:0", want: { kind: 'hold', text: 'Waiting for hold release:0' } },
  { name: 'fatal', input: '>FATAL:cannot open tun', want: { kind: 'fatal', text: 'cannot open tun' } },
  { name: 'other notification', input: '>NEED-OK:Need x', want: { kind: 'notification', name: 'NEED-OK', text: 'Need x' } },
  { name: 'malformed state stays a notification', input: '>STATE:abc', want: { kind: 'notification', name: 'STATE', text: 'abc' } },
  { name: 'malformed bytecount', input: '>BYTECOUNT:1', want: { kind: 'notification', name: 'BYTECOUNT', text: '1' } },
  { name: 'success', input: 'SUCCESS: pid=24121', want: { kind: 'success', text: 'pid=24121' } },
  { name: 'error', input: "ERROR: unknown command, enter 'help' for more options", want: { kind: 'error', text: "unknown command, enter 'help' for more options" } },
  { name: 'end', input: 'END', want: { kind: 'end' } },
  { name: 'data', input: 'TUN/TAP read bytes,631', want: { kind: 'data', text: 'TUN/TAP read bytes,631' } },
  { name: 'lone >', input: '>', want: { kind: 'notification', name: '', text: '' } },
];
for (const row of table) {
  test(`parseMgmtLine: ${row.name}`, (t) => t.deepEqual(parseMgmtLine(row.input), row.want));
}

test('framing the captured session gives one reply per command, in order', (t) => {
  const tr = readTranscript('openvpn-2.6-mgmt-session.txt');
  const framer = new MgmtReplyFramer();
  const replies: MgmtReply[] = [];
  const events: MgmtLine[] = [];
  for (const line of tr.received) {
    const parsed = parseMgmtLine(line);
    if (isNotification(parsed)) {
      events.push(parsed);
      continue;
    }
    const r = framer.push(parsed);
    if (r) replies.push(r);
  }
  t.is(replies.length, tr.sent.length);
  const byCommand = new Map(tr.sent.map((c, i) => [c, replies[i]!]));
  t.is(parsePidReply((byCommand.get('pid') as { text: string }).text), 24121);
  const state = byCommand.get('state') as { kind: 'lines'; lines: string[] };
  t.is(parseStateFields(state.lines[0]!)?.name, 'CONNECTED');
  const all = byCommand.get('state all') as { kind: 'lines'; lines: string[] };
  t.deepEqual(all.lines.map((l) => parseStateFields(l)?.name), ['CONNECTING', 'AUTH', 'WAIT', 'ASSIGN_IP', 'CONNECTED']);
  const status = parseStatusBlock((byCommand.get('status') as { lines: string[] }).lines);
  t.deepEqual(status, { updated: '2026-11-22 00:38:00', tunTapReadBytes: 631, tunTapWriteBytes: 592, linkReadBytes: 2693, linkWriteBytes: 2777, authReadBytes: 608 });
  t.deepEqual(parseLoadStats((byCommand.get('load-stats') as { text: string }).text), { nclients: 0, bytesIn: 2693, bytesOut: 2777 });
  t.is(byCommand.get('bogus')?.kind, 'error');
  t.true(events.some((e) => e.kind === 'state' && e.state.name === 'RECONNECTING'));
  t.true(events.some((e) => e.kind === 'bytecount'));
  // A log history line that quotes a >STATE line is data, not an event.
  t.true((byCommand.get('log 3') as { lines: string[] }).lines.some((l) => l.includes('MANAGEMENT: >STATE')));
});

test('parsers never throw on garbage', (t) => {
  for (const s of ['', ',,,', '>STATE:', 'SUCCESS:', '\u0000\u0001', 'END ', '>:x', 'ERROR']) {
    t.notThrows(() => parseMgmtLine(s));
    t.notThrows(() => parseStateFields(s));
    t.notThrows(() => parseStatusBlock([s]));
    t.is(parsePidReply(s), undefined);
    t.is(parseLoadStats(s), undefined);
  }
});
