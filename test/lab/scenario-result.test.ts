import test from 'ava';
import { LabError } from '../../lab/errors.js';
import { recoveryText } from '../../lab/recovery.js';
import { check, judge, timed } from '../../lab/scenario-result.js';

test('judge: ok only when every bound holds; each failure says what was wanted and seen', (t) => {
  t.deepEqual(judge([check(true, 'a', 'x')]), { ok: true, failures: [] });
  t.deepEqual(judge([check(true, 'a', 'x'), check(false, 'outage at most 10.0 s', '42.0 s')]), { ok: false, failures: ['want outage at most 10.0 s; saw 42.0 s'] });
});

test('timed: a timeout is a measured fact, any other error is thrown', async (t) => {
  const ok = await timed(async () => 5);
  t.is(ok.value, 5);
  t.true(ok.ms !== null && ok.ms >= 0);
  const late = await timed(async () => {
    throw new LabError('RN_LAB_TIMEOUT', 'timed out after 3 s waiting for x (last: y).\nmore');
  });
  t.deepEqual(late, { value: undefined, ms: null, reason: 'timed out after 3 s waiting for x (last: y).' });
  await t.throwsAsync(() => timed(async () => { throw new Error('bug'); }), { message: 'bug' });
});

test('recovery text names the time, or the pairs still missing and the daemons down', (t) => {
  t.is(recoveryText({ recoveredMs: 4_200, boundMs: 30_000, withinBound: true, reached: 20, pairs: 20, missing: [], daemonsDown: [] }, 60_000), 'all 20 pairs reach 4.2 s after the heal (bound 30.0 s)');
  t.is(
    recoveryText({ recoveredMs: null, boundMs: 30_000, withinBound: false, reached: 17, pairs: 25, missing: ['n2->n1', 'n1->n2'], daemonsDown: ['n3'] }, 120_000),
    'NOT recovered within 120.0 s of the heal: 17/25 pairs reach (missing n2->n1 n1->n2); daemons down: n3',
  );
});
