import test from 'ava';
import { cpuPercent, parseContextSwitches, parseIoWriteBytes, parseSmapsRollup, parseStatCpu, spread } from '../../lab/proc-stats.js';

// A real stat line, with a comm holding a space and a parenthesis to check field counting.
const STAT = '4242 (node (x) y) S 1 4242 4242 0 -1 4194560 12000 0 3 0 1534 287 0 0 20 0 11 0 1086473 1203040256 24011 18446744073709551615 1 1 0 0 0 0 0 16781312 134234626 0 0 0 17 1 0 0 0 0 0';

test('stat: utime and stime are fields 14 and 15, even with spaces and parentheses in comm', (t) => {
  t.deepEqual(parseStatCpu(STAT), { utime: 1534, stime: 287 });
});

test('stat: text that is not a stat line gives undefined', (t) => {
  t.is(parseStatCpu(''), undefined);
  t.is(parseStatCpu('no parenthesis here 1 2 3'), undefined);
  t.is(parseStatCpu('1 (x) S 1 2'), undefined);
});

const ROLLUP = `55e8525ae000-7fff81907000 ---p 00000000 00:00 0                          [rollup]
Rss:               98304 kB
Pss:               61440 kB
Pss_Dirty:         37000 kB
Pss_Anon:          37000 kB
Shared_Clean:      34000 kB
Shared_Dirty:          0 kB
Private_Clean:      2048 kB
Private_Dirty:     37120 kB
Referenced:        98304 kB
Anonymous:         37120 kB
Swap:                  0 kB
`;

test('smaps_rollup: RSS, PSS, private (clean + dirty) and anonymous KiB', (t) => {
  t.deepEqual(parseSmapsRollup(ROLLUP), { rss: 98304, pss: 61440, private: 39168, anon: 37120 });
});

test('smaps_rollup: without Rss or Pss (a kernel thread, an unreadable file) gives undefined', (t) => {
  t.is(parseSmapsRollup(''), undefined);
  t.is(parseSmapsRollup('Rss: 10 kB\n'), undefined);
});

test('cpu percent: ticks over the window as a share of one core', (t) => {
  // 30 ticks of 10 ms in 60 s = 0.3 s / 60 s = 0.5 %.
  t.is(cpuPercent({ utime: 100, stime: 50 }, { utime: 120, stime: 60 }, 60_000), 0.5);
  t.is(cpuPercent({ utime: 0, stime: 0 }, { utime: 100, stime: 0 }, 1_000), 100);
  t.is(cpuPercent({ utime: 5, stime: 5 }, { utime: 5, stime: 5 }, 0), 0);
});

test('spread: median of odd and even counts, max, nothing for no values', (t) => {
  t.deepEqual(spread([3, 1, 2]), { n: 3, median: 2, max: 3 });
  t.deepEqual(spread([4, 1, 3, 2]), { n: 4, median: 2.5, max: 4 });
  t.is(spread([]), undefined);
});

test('status: voluntary (wake-ups) and involuntary context switches; a text without them gives undefined', (t) => {
  const status = 'Name:\tnode\nState:\tS (sleeping)\nvoluntary_ctxt_switches:\t1200\nnonvoluntary_ctxt_switches:\t34\n';
  t.deepEqual(parseContextSwitches(status), { voluntary: 1200, involuntary: 34 });
  t.is(parseContextSwitches('Name:\tnode\nvoluntary_ctxt_switches:\t1200\n'), undefined);
});

test('io: write_bytes, not wchar (what reached the page cache for storage); undefined when missing', (t) => {
  const io = 'rchar: 9000\nwchar: 5000\nsyscr: 12\nsyscw: 7\nread_bytes: 0\nwrite_bytes: 40960\ncancelled_write_bytes: 0\n';
  t.is(parseIoWriteBytes(io), 40_960);
  t.is(parseIoWriteBytes('rchar: 1\n'), undefined);
});
