import test from 'ava';
import { pino } from 'pino';
import { BABEL_PORT, RouteRequests, wildcardRouteRequest } from '../../../daemon/tunnels/route-request.js';
import { FakeClock } from '../../fakes/fake-clock.js';

test('the packet: Babel magic 42, version 2, body length 4, one Route Request TLV (type 9, length 2) with AE 0 and plen 0', (t) => {
  t.deepEqual([...wildcardRouteRequest()], [42, 2, 0, 4, 9, 2, 0, 0]);
});

function setup(fail = false) {
  const clock = new FakeClock(0);
  const sent: Array<{ atMs: number; host: string; port: number; bytes: number[] }> = [];
  const requests = new RouteRequests({
    clock,
    log: pino({ level: 'silent' }),
    delaysMs: [300, 1_500],
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
  t.deepEqual(s.sent[0]!.bytes, [...wildcardRouteRequest()]);
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
