// The lab's reader of babeld's Hello TLVs (test/daemon/node/babel-hellos.ts) on hand-built packets.
import test from 'ava';
import { babelHellos } from './babel-hellos.js';

/** A Babel packet (magic 42, version 2) holding the given TLVs. */
const packet = (...tlvs: number[][]): Buffer => {
  const body = Buffer.from(tlvs.flat());
  return Buffer.concat([Buffer.from([42, 2, body.length >> 8, body.length & 0xff]), body]);
};
const hello = (flags: number, seqno: number, intervalCs: number): number[] => [4, 6, flags >> 8, flags & 0xff, seqno >> 8, seqno & 0xff, intervalCs >> 8, intervalCs & 0xff];

test('reads the interval of each Hello, skipping Pad1, PadN and other TLVs', (t) => {
  const ihu = [5, 6, 0, 0, 0, 96, 1, 144];
  t.deepEqual(babelHellos(packet([0], [1, 2, 0, 0], hello(0, 7, 200), ihu, hello(0x8000, 8, 0))), [
    { unicast: false, seqno: 7, intervalCs: 200 },
    { unicast: true, seqno: 8, intervalCs: 0 },
  ]);
});

test('anything that is not a Babel v2 packet, or a truncated TLV, yields nothing', (t) => {
  t.deepEqual(babelHellos(Buffer.from('hello')), []);
  t.deepEqual(babelHellos(Buffer.from([42, 1, 0, 0])), []);
  const cut = packet(hello(0, 1, 100)).subarray(0, 9);
  t.deepEqual(babelHellos(cut), []);
});
