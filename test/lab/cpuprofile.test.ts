import test from 'ava';
import { groupOf, summarizeProfile, type CpuProfile } from '../../lab/cpuprofile.js';

const frame = (functionName: string, url = 'file:///x/daemon-main.js', lineNumber = 0) => ({ functionName, url, lineNumber, columnNumber: 0 });

/** root → timers → (tick → linkTag) | (runMonitor → parseBabelLine) | helper; plus GC and idle. */
const profile: CpuProfile = {
  nodes: [
    { id: 1, callFrame: frame('(root)', ''), children: [2, 7, 8] },
    { id: 2, callFrame: frame('listOnTimeout', 'node:internal/timers'), children: [3, 5, 9] },
    { id: 3, callFrame: frame('tick', 'file:///x/daemon-main.js', 10), children: [4] },
    { id: 4, callFrame: frame('linkTag', 'file:///x/daemon-main.js', 20) },
    { id: 5, callFrame: frame('runMonitor'), children: [6] },
    { id: 6, callFrame: frame('parseBabelLine') },
    { id: 7, callFrame: frame('(garbage collector)', '') },
    { id: 8, callFrame: frame('(idle)', '') },
    { id: 9, callFrame: frame('someHelper') },
  ],
  startTime: 0,
  endTime: 10_000_000,
  // One sample a second: at 1 s linkTag, 2 s parseBabelLine, 3 s GC, 4 s idle, 5 s someHelper, 6 s linkTag.
  samples: [4, 6, 7, 8, 9, 4, 8],
  timeDeltas: [1_000_000, 1_000_000, 1_000_000, 1_000_000, 1_000_000, 1_000_000, 1_000_000],
};

test('each busy sample counts for the first group from the leaf up; idle is left out', (t) => {
  const s = summarizeProfile(profile, { fromMs: 0, toMs: Infinity }, groupOf);
  t.is(s.samples, 5);
  t.is(s.busyUs, 5_000_000);
  t.is(s.wallMs, 7_000);
  t.deepEqual(Object.fromEntries(s.groups), {
    'link hellos (peer protocol, link monitor)': 2_000_000,
    'babel monitor (socket lines, parse, table)': 1_000_000,
    gc: 1_000_000,
    'timers (other)': 1_000_000, // someHelper has no group: its timer caller's
  });
  t.deepEqual(s.functions[0], { name: 'linkTag', where: 'daemon-main.js:21', selfUs: 2_000_000 });
});

test('a window keeps only the samples taken inside it', (t) => {
  const s = summarizeProfile(profile, { fromMs: 1_500, toMs: 3_000 }, groupOf);
  t.is(s.samples, 2);
  t.deepEqual([...s.groups.keys()].sort(), ['babel monitor (socket lines, parse, table)', 'gc']);
  t.is(s.wallMs, 2_000);
});
