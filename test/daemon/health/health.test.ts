// Health items: raised once, updated silently, revealed after visibleAfterMs, cleared once.
import test from 'ava';
import { HealthRegistry } from '../../../daemon/health/health.js';
import { FakeClock } from '../../fakes/fake-clock.js';
import { recordLog } from '../upnp/record-log.js';

const item = { code: 'RN_UPNP_NO_GATEWAY', title: 'No UPnP gateway', severity: 'warning' as const, text: 'no gateway. Enable UPnP.' };

test('raise logs once and lists the item; raising again updates the text only', (t) => {
  const clock = new FakeClock();
  const { log, records } = recordLog();
  const health = new HealthRegistry({ clock, log });
  const since = clock.nowMs();
  health.raise(item);
  t.deepEqual(health.list(), [{ ...item, sinceMs: since, visibleAfterMs: 0 }]);
  void clock.advance(5000);
  health.raise({ ...item, text: 'still no gateway.' });
  t.like(health.list()[0], { text: 'still no gateway.', sinceMs: since });
  t.deepEqual(records.map((r) => [r.level, r.msg, r.fields.code]), [['warn', 'health item raised', 'RN_UPNP_NO_GATEWAY']]);
});

test('clear logs once, only for a raised item, and removes it', (t) => {
  const clock = new FakeClock();
  const { log, records } = recordLog();
  const health = new HealthRegistry({ clock, log });
  t.false(health.clear('RN_UPNP_NO_GATEWAY'));
  health.raise(item);
  t.true(health.clear('RN_UPNP_NO_GATEWAY'));
  t.false(health.clear('RN_UPNP_NO_GATEWAY'));
  t.deepEqual(health.list(), []);
  t.deepEqual(records.map((r) => r.msg), ['health item raised', 'health item cleared']);
});

test('an item with visibleAfterMs stays hidden and silent until it has lasted that long', async (t) => {
  const clock = new FakeClock();
  const { log, records } = recordLog();
  const health = new HealthRegistry({ clock, log });
  health.raise({ ...item, visibleAfterMs: 10_000 });
  t.true(health.has(item.code));
  t.deepEqual(health.list(), []);
  await clock.advance(9_999);
  t.deepEqual(health.list(), []);
  await clock.advance(1);
  t.is(health.list().length, 1);
  t.deepEqual(records.map((r) => r.msg), ['health item raised']);
});

test('a flapping item that clears before it is visible logs nothing', async (t) => {
  const clock = new FakeClock();
  const { log, records } = recordLog();
  const health = new HealthRegistry({ clock, log });
  health.raise({ ...item, visibleAfterMs: 10_000 });
  await clock.advance(3_000);
  health.clear(item.code);
  await clock.advance(20_000);
  t.deepEqual(records, []);
  t.is(clock.pendingTimers(), 0);
});

test('list puts errors first, then the oldest; severities log at their level', async (t) => {
  const clock = new FakeClock();
  const { log, records } = recordLog();
  const health = new HealthRegistry({ clock, log });
  health.raise({ ...item, code: 'A', severity: 'info' });
  await clock.advance(1);
  health.raise({ ...item, code: 'B', severity: 'warning' });
  await clock.advance(1);
  health.raise({ ...item, code: 'C', severity: 'error' });
  await clock.advance(1);
  health.raise({ ...item, code: 'D', severity: 'warning' });
  t.deepEqual(health.list().map((i) => i.code), ['C', 'B', 'D', 'A']);
  t.deepEqual(records.map((r) => r.level), ['info', 'warn', 'error', 'warn']);
});

test('an item needs a code', (t) => {
  const health = new HealthRegistry({ clock: new FakeClock(), log: recordLog().log });
  t.throws(() => health.raise({ ...item, code: '' }), { instanceOf: TypeError });
});
