import test from 'ava';
import { pino } from 'pino';
import { parsePrefix } from '../../../config/ipv6.js';
import { BABEL_PORT, RouteRequests, tunnelGreeting } from '../../../daemon/tunnels/route-request.js';
import { FakeClock } from '../../fakes/fake-clock.js';

test('the packet: Babel magic 42, version 2, body length; two Hellos without flags and two with flag U (type 4, length 6, consecutive seqnos in each pair, interval in cs); one wildcard Route Request', (t) => {
  t.deepEqual([...tunnelGreeting(0x1234, 400)], [
    42, 2, 0, 36,
    4, 6, 0, 0, 0x12, 0x34, 0x01, 0x90,
    4, 6, 0, 0, 0x12, 0x35, 0x01, 0x90,
    4, 6, 0x80, 0, 0x12, 0x34, 0x01, 0x90,
    4, 6, 0x80, 0, 0x12, 0x35, 0x01, 0x90,
    9, 2, 0, 0,
  ]);
  // Seqnos wrap at 16 bits; the interval is kept within what the field holds.
  t.deepEqual([...tunnelGreeting(0xffff, 0).subarray(16, 20)], [0, 0, 0, 1]);
  t.deepEqual([...tunnelGreeting(0xffff, 0).subarray(24, 28)], [0xff, 0xff, 0, 1]);
  t.deepEqual([...tunnelGreeting(1, 1e9).subarray(10, 12)], [0xff, 0xff]);
});

test('with the peer\'s prefix: a second Route Request for it (AE 2, its length, only the bytes the length covers)', (t) => {
  const packet = tunnelGreeting(0x1234, 400, parsePrefix('fd00:1:0:2::/64'));
  t.deepEqual([...packet.subarray(0, 4)], [42, 2, 0, 48]);
  t.deepEqual([...packet.subarray(4, 40)], [...tunnelGreeting(0x1234, 400).subarray(4)]);
  t.deepEqual([...packet.subarray(40)], [9, 10, 2, 64, 0xfd, 0, 0, 1, 0, 0, 0, 2]);
  t.deepEqual([...tunnelGreeting(1, 400, parsePrefix('fd12:3456:7800::/41')).subarray(40)], [9, 8, 2, 41, 0xfd, 0x12, 0x34, 0x56, 0x78, 0]);
  t.deepEqual([...tunnelGreeting(1, 400, parsePrefix('fd00::1/128')).subarray(0, 4)], [42, 2, 0, 56]);
});

function setup(fail = false) {
  const clock = new FakeClock(0);
  const sent: Array<{ atMs: number; host: string; port: number; bytes: number[] }> = [];
  const requests = new RouteRequests({
    clock,
    log: pino({ level: 'silent' }),
    delaysMs: [300, 1_500],
    helloIntervalSec: () => 4,
    firstSeqno: () => 100,
    send: async (packet, host, port) => {
      sent.push({ atMs: clock.nowMs(), host, port, bytes: [...packet] });
      if (fail) throw new Error('ENXIO');
    },
  });
  return { clock, sent, requests };
}

test('a tunnel that came up: requests to the peer\'s link-local address on it, at each delay', async (t) => {
  const s = setup();
  s.requests.tunnelUp('rn0123', 'fe80::2', 'fd00:1:0:2::/64');
  await s.clock.advance(10_000);
  t.deepEqual(s.sent.map((x) => [x.atMs, x.host, x.port]), [
    [300, 'fe80::2%rn0123', BABEL_PORT],
    [1_500, 'fe80::2%rn0123', BABEL_PORT],
  ]);
  t.deepEqual(s.sent[0]!.bytes, [...tunnelGreeting(100, 400, parsePrefix('fd00:1:0:2::/64'))]);
  // The next packet's hellos continue the sequence: the peer's babeld sees no hello missed.
  t.deepEqual(s.sent[1]!.bytes, [...tunnelGreeting(102, 400, parsePrefix('fd00:1:0:2::/64'))]);
});

test('each interface has its own hello sequence, which a tunnel that comes up again continues', async (t) => {
  const s = setup();
  s.requests.tunnelUp('rn1', 'fe80::1', 'fd00:1:0:1::/64');
  s.requests.tunnelUp('rn2', 'fe80::2', 'fd00:1:0:2::/64');
  await s.clock.advance(10_000);
  s.requests.tunnelUp('rn1', 'fe80::1', 'fd00:1:0:1::/64');
  await s.clock.advance(10_000);
  const seqnos = (host: string) => s.sent.filter((x) => x.host === host).map((x) => (x.bytes[8]! << 8) | x.bytes[9]!);
  t.deepEqual(seqnos('fe80::1%rn1'), [100, 102, 104, 106]);
  t.deepEqual(seqnos('fe80::2%rn2'), [100, 102]);
});

test('up again starts the burst over; cancel and stop drop what is not sent; a failed send is not an error', async (t) => {
  const s = setup(true);
  s.requests.tunnelUp('rn1', 'fe80::1', 'fd00:1:0:1::/64');
  await s.clock.advance(1_000);
  s.requests.tunnelUp('rn1', 'fe80::1', 'fd00:1:0:1::/64');
  s.requests.tunnelUp('rn2', 'fe80::2', 'fd00:1:0:2::/64');
  await s.clock.advance(300);
  s.requests.cancel('rn2');
  await s.clock.advance(10_000);
  t.deepEqual(s.sent.map((x) => [x.atMs, x.host]), [
    [300, 'fe80::1%rn1'],
    [1_300, 'fe80::1%rn1'],
    [1_300, 'fe80::2%rn2'],
    [2_500, 'fe80::1%rn1'],
  ]);
  s.requests.tunnelUp('rn3', 'fe80::3', 'fd00:1:0:3::/64');
  s.requests.stop();
  s.requests.tunnelUp('rn4', 'fe80::4', 'fd00:1:0:4::/64');
  await s.clock.advance(10_000);
  t.is(s.sent.length, 4, 'nothing after stop');
});
