import test from 'ava';
import { largestGapMs, parsePingLog } from '../../lab/ping.js';

// iputils 20221126 `ping -6 -n -D -i 0.05` output, trimmed
const LOG = `PING fd00:1::1(fd00:1::1) 56 data bytes
[1795300000.000100] 64 bytes from fd00:1::1: icmp_seq=1 ttl=64 time=0.410 ms
[1795300000.050200] 64 bytes from fd00:1::1: icmp_seq=2 ttl=64 time=0.390 ms
[1795300003.550300] 64 bytes from fd00:1::1: icmp_seq=72 ttl=63 time=0.700 ms
[1795300003.600400] 64 bytes from fd00:1::1: icmp_seq=73 ttl=63 time=0.650 ms

--- fd00:1::1 ping statistics ---
73 packets transmitted, 4 received, 94.5205% packet loss, time 3600ms
`;

test('ping -D lines: replies with seq and time, and the summary', (t) => {
  const log = parsePingLog(LOG);
  t.deepEqual(log.replies.map((r) => r.seq), [1, 2, 72, 73]);
  t.is(log.replies[0]!.atMs, 1795300000000);
  t.is(log.transmitted, 73);
  t.is(log.received, 4);
});

test('the outage is the largest gap between replies after the cut', (t) => {
  const { replies } = parsePingLog(LOG);
  t.deepEqual(largestGapMs(replies, 1795300000060), { gapMs: 3500, fromMs: 1795300000050, toMs: 1795300003550 });
  t.is(largestGapMs(replies, 1795300003600).gapMs, 50, 'only gaps ending after sinceMs count');
  t.is(largestGapMs([]).gapMs, 0);
});
