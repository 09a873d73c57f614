import test from 'ava';
import { parseNetDev, readNetDevSync } from '../../../daemon/sys/netdev.js';

const SAMPLE = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    1234      12    0    0    0     0          0         0     1234      12    0    0    0     0       0          0
rn2cf797a6f7066:     953      11    0    0    0     0          0         0     1345      15    0    1    0     0       0          0
  eth0: 9876543210 123456    0    0    0     0          0         0 123 4    0    0    0     0       0          0
broken: 1 2 3
`;

test('parseNetDev reads bytes and packets per interface', (t) => {
  const m = parseNetDev(SAMPLE);
  t.deepEqual(m.get('rn2cf797a6f7066'), { rxBytes: 953, rxPackets: 11, txBytes: 1345, txPackets: 15 });
  t.deepEqual(m.get('eth0'), { rxBytes: 9876543210, rxPackets: 123456, txBytes: 123, txPackets: 4 });
  t.deepEqual([...m.keys()], ['lo', 'rn2cf797a6f7066', 'eth0']);
});

test('parseNetDev skips garbage', (t) => {
  t.is(parseNetDev('').size, 0);
  t.is(parseNetDev('x: a b c d e f g h i j k l m n o p').size, 0);
  t.is(parseNetDev('\u0000::::').size, 0);
  t.is(parseNetDev('x: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16x').size, 0, 'a field that is not all digits');
  t.is(parseNetDev('x: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15').size, 0, 'a field short');
  t.deepEqual(parseNetDev('x:1\t2 3 4 5 6 7 8 9 10 11 12 13 14 15 16').get('x'), { rxBytes: 1, rxPackets: 2, txBytes: 9, txPackets: 10 });
});

test('readNetDevSync reads this namespace', (t) => {
  t.true(readNetDevSync().has('lo'));
});
