import test from 'ava';
import { parseBabelLine } from '../../../daemon/babel/parse.js';
import { MonitorRepeats } from '../../../daemon/babel/repeats.js';
import { applyBabelEvent, emptyBabelTable } from '../../../daemon/babel/table.js';
import { readTranscript } from '../../fixtures/load.js';

const ROUTE = 'route 55ba prefix fd00:1::/64 from ::/0 installed yes id 36:ba metric 192 refmetric 96 via fe80::1 if rn1';

test('a change identical to the last add or change of the object is a repeat', (t) => {
  const r = new MonitorRepeats();
  t.false(r.isRepeat(`add ${ROUTE}`));
  t.true(r.isRepeat(`change ${ROUTE}`));
  t.true(r.isRepeat(`change ${ROUTE}`));
  t.false(r.isRepeat(`change ${ROUTE.replace('metric 192', 'metric 193')}`), 'a new metric is news');
  t.true(r.isRepeat(`change ${ROUTE.replace('metric 192', 'metric 193')}`));
  t.false(r.isRepeat(`change ${ROUTE}`), 'back to the old state is news too');
});

test('an add is never a repeat, a flush forgets the object, a reset forgets all', (t) => {
  const r = new MonitorRepeats();
  t.false(r.isRepeat(`add ${ROUTE}`));
  t.false(r.isRepeat(`add ${ROUTE}`));
  t.false(r.isRepeat('flush route 55ba'));
  t.false(r.isRepeat(`change ${ROUTE}`), 'after its flush the object is new');
  r.reset();
  t.false(r.isRepeat(`change ${ROUTE}`));
  t.true(r.isRepeat(`change ${ROUTE}`));
});

test('objects are told apart by kind and id; other lines are never repeats', (t) => {
  const r = new MonitorRepeats();
  t.false(r.isRepeat('change neighbour 1 address fe80::1 if a reach ffff'));
  t.false(r.isRepeat('change neighbour 2 address fe80::1 if a reach ffff'));
  t.false(r.isRepeat('change interface 1 address fe80::1 if a reach ffff'));
  for (const line of ['ok', 'ok', 'version babeld-1.12.1', 'version babeld-1.12.1', '', 'change', 'change route']) t.false(r.isRepeat(line), line);
});

test('leaving the repeats out of captured monitor transcripts gives the same table', (t) => {
  for (const file of ['babeld-1.12.1-monitor.txt', 'babeld-1.12.1-monitor-netlab.txt']) {
    const lines = readTranscript(file).received;
    const r = new MonitorRepeats();
    let all = emptyBabelTable();
    let kept = emptyBabelTable();
    let left = 0;
    for (const [i, line] of lines.entries()) {
      const ev = parseBabelLine(line);
      all = applyBabelEvent(all, ev);
      if (r.isRepeat(line)) left++;
      else kept = applyBabelEvent(kept, ev);
      t.deepEqual(kept, all, `${file} line ${i + 1}`);
    }
    t.true(left > 0, `${file}: some lines were repeats`);
  }
});
