import test from 'ava';
import { pino } from 'pino';
import { BABEL_PORT, RouteRequests, tunnelGreeting } from '../../../daemon/tunnels/route-request.js';
import { FakeClock } from '../../fakes/fake-clock.js';

test('the packet: Babel magic 42, version 2, body length 20; two unicast Hellos (type 4, length 6, flag U, consecutive seqnos, interval in cs); one wildcard Route Request', (t) => {
  t.deepEqual([...tunnelGreeting(0x1234, 400)], [
    42, 2, 0, 20,
    4, 6, 0x80, 0, 0x12, 0x34, 0x01, 0x90,
    4, 6, 0x80, 0, 0x12, 0x35, 0x01, 0x90,
    9, 2, 0, 0,
  ]);
  // Seqnos wrap at 16 bits; the interval is kept within what the field holds.
  t.deepEqual([...tunnelGreeting(0xffff, 0).subarray(8, 12)], [0xff, 0xff, 0, 1]);
  t.deepEqual([...tunnelGreeting(0xffff, 0).subarray(16, 18)], [0, 0]);
  t.deepEqual([...tunnelGreeting(1, 1e9).subarray(10, 12)], [0xff, 0xff]);
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
  s.requests.tunnelUp('rn0123', 'fe80::2');
  await s.clock.advance(10_000);
  t.deepEqual(s.sent.map((x) => [x.atMs, x.host, x.port]), [
    [300, 'fe80::2%rn0123', BABEL_PORT],
    [1_500, 'fe80::2%rn0123', BABEL_PORT],
  ]);
  t.deepEqual(s.sent[0]!.bytes, [...tunnelGreeting(100, 400)]);
  // The next packet's hellos continue the sequence: the peer's babeld sees no hello missed.
  t.deepEqual(s.sent[1]!.bytes, [...tunnelGreeting(102, 400)]);
});

test('each interface has its own hello sequence, which a tunnel that comes up again continues', async (t) => {
  const s = setup();
  s.requests.tunnelUp('rn1', 'fe80::1');
  s.requests.tunnelUp('rn2', 'fe80::2');
  await s.clock.advance(10_000);
  s.requests.tunnelUp('rn1', 'fe80::1');
  await s.clock.advance(10_000);
  const seqnos = (host: string) => s.sent.filter((x) => x.host === host).map((x) => (x.bytes[8]! << 8) | x.bytes[9]!);
  t.deepEqual(seqnos('fe80::1%rn1'), [100, 102, 104, 106]);
  t.deepEqual(seqnos('fe80::2%rn2'), [100, 102]);
});

test('up again starts the burst over; cancel and stop drop what is not sent; a failed send is not an error', async (t) => {
  const s = setup(true);
  s.requests.tunnelUp('rn1', 'fe80::1');
  await s.clock.advance(1_000);
  s.requests.tunnelUp('rn1', 'fe80::1');
  s.requests.tunnelUp('rn2', 'fe80::2');
  await s.clock.advance(300);
  s.requests.cancel('rn2');
  await s.clock.advance(10_000);
  t.deepEqual(s.sent.map((x) => [x.atMs, x.host]), [
    [300, 'fe80::1%rn1'],
    [1_300, 'fe80::1%rn1'],
    [1_300, 'fe80::2%rn2'],
    [2_500, 'fe80::1%rn1'],
  ]);
  s.requests.tunnelUp('rn3', 'fe80::3');
  s.requests.stop();
  s.requests.tunnelUp('rn4', 'fe80::4');
  await s.clock.advance(10_000);
  t.is(s.sent.length, 4, 'nothing after stop');
});
