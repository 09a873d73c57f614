// The babel reconciler on a fake clock against a fake babeld that can stall like a
// SIGSTOPped one: statements are retried until they hold, late statements carried
// out on resume do not win over newer wishes, a restart re-applies everything, a
// babeld hung for long is handed over for a restart, and our own lateness widens that.
import test from 'ava';
import { interfaceHolds, helloHolds } from '../../../daemon/babel/desired.js';
import { BabelReconciler, CHECK_LINE, requestTimeoutMs, unresponsiveAfterMs, defaultReconcilerTimings } from '../../../daemon/babel/reconciler.js';
import { HealthRegistry } from '../../../daemon/health/health.js';
import { FakeBabeldState } from '../../fakes/fake-babeld.js';
import { FakeClock } from '../../fakes/fake-clock.js';
import { recordLog } from '../upnp/record-log.js';

function setup(options: { lateMs?: number } = {}) {
  const clock = new FakeClock();
  const babeld = new FakeBabeldState();
  const { log, records } = recordLog();
  const health = new HealthRegistry({ clock, log });
  const hung: number[] = [];
  let lateMs = options.lateMs ?? 0;
  const reconciler = new BabelReconciler(1, {
    client: babeld.client(clock),
    clock,
    log,
    health,
    lateness: { recentMaxMs: () => lateMs },
    running: () => true,
    onUnresponsive: (ms) => hung.push(ms),
  });
  reconciler.start();
  return { clock, babeld, records, health, hung, reconciler, setLate: (ms: number) => (lateMs = ms) };
}

const addIf = (r: BabelReconciler, ifName: string): void => r.update((d) => void d.interfaces.set(ifName, { draining: false, suspended: false }));

test('the desired state is sent once babeld answers, and waiters see it hold', async (t) => {
  const { clock, babeld, reconciler } = setup();
  addIf(reconciler, 'rnA');
  const held = reconciler.waitUntil((d, a) => interfaceHolds(d, a, 'rnA'), 5_000);
  await clock.advance(0);
  t.true(await held);
  t.is(babeld.defaultHello, '1');
  t.is(babeld.helloOf('rnA'), '1');
  t.deepEqual(reconciler.status().pending, []);
  await reconciler.stop();
});

test('a stalled babeld: statements time out, are retried with backoff, and hold after resume; a change made meanwhile wins', async (t) => {
  const { clock, babeld, reconciler, health, records } = setup();
  addIf(reconciler, 'rnA');
  await clock.advance(0);
  t.is(babeld.helloOf('rnA'), '1');

  babeld.stall();
  const handledBefore = babeld.handled.length;
  addIf(reconciler, 'rnB');
  // A waiter gives up after its bound; it never throws.
  t.false(await Promise.all([reconciler.waitUntil((d, a) => interfaceHolds(d, a, 'rnB'), 3_000), clock.advance(3_000)]).then(([held]) => held));
  await clock.advance(10_000);
  t.true(health.has('RN_BABEL_UNREACHABLE'), 'a warning while babeld does not answer');
  t.is(health.list()[0]?.severity, 'warning');
  t.false(reconciler.status().answering);
  // The hello interval changes during the stall.
  reconciler.update((d) => void (d.helloSec = 2));
  await clock.advance(10_000);
  t.is(babeld.handled.length, handledBefore, 'nothing carried out while stalled');

  babeld.resume();
  const held = reconciler.waitUntil((d, a) => helloHolds(d, a), 60_000);
  await clock.advance(60_000);
  t.true(await held);
  // Late statements of the connections given up on were carried out too, yet babeld ends as wanted.
  t.is(babeld.defaultHello, '2');
  t.is(babeld.helloOf('rnA'), '2');
  t.is(babeld.helloOf('rnB'), '2');
  t.false(health.has('RN_BABEL_UNREACHABLE'));
  t.true(records.some((r) => r.msg === 'babeld answers again'));
  // Retried with backoff, not in a hot loop: a handful of tries in 20 s of stall.
  const tries = babeld.handled.filter((l) => l === 'dump' || l.startsWith('interface rnB')).length;
  t.true(tries >= 2 && tries <= 12, `tries: ${tries}`);
  await reconciler.stop();
});

test('while calm, babeld is asked a one-line question every 15 s and for its interfaces every 2 min; one that stops answering is noticed and handed over for a restart', async (t) => {
  const { clock, babeld, reconciler, health, hung } = setup();
  addIf(reconciler, 'rnA');
  await clock.advance(0);
  t.is(babeld.helloOf('rnA'), '1');
  const count = (line: string, from: number): number => babeld.handled.slice(from).filter((l) => l === line).length;
  const before = babeld.handled.length;
  for (let i = 0; i < 16; i++) await clock.advance(15_000);
  t.true(count(CHECK_LINE, before) >= 13 && count(CHECK_LINE, before) <= 16, `checks in 4 min: ${count(CHECK_LINE, before)}`);
  t.is(count('dump', before), 2, 'two dumps in 4 minutes');
  t.true(reconciler.status().answering);

  babeld.stall();
  const stalledAt = babeld.handled.length;
  for (let i = 0; i < 8; i++) await clock.advance(10_000);
  t.true(health.has('RN_BABEL_UNREACHABLE'), 'a check without an answer raises the warning');
  t.is(hung.length, 1, 'unanswered for 45 s: handed over for a restart');
  t.is(babeld.handled.length, stalledAt);
  babeld.resume();
  await clock.advance(30_000);
  t.false(health.has('RN_BABEL_UNREACHABLE'));
  t.true(babeld.handled.slice(stalledAt).includes('dump'), 'after a failure the interfaces are dumped again');
  await reconciler.stop();
});

test('after a babeld restart the desired state is applied again', async (t) => {
  const { clock, babeld, reconciler } = setup();
  addIf(reconciler, 'rnA');
  reconciler.update((d) => void d.interfaces.set('rnD', { draining: true, suspended: false }));
  reconciler.update((d) => void d.interfaces.set('rnS', { draining: false, suspended: true }));
  await clock.advance(0);
  t.deepEqual([...babeld.interfaces.keys()].sort(), ['rnA', 'rnD']);
  babeld.restart();
  reconciler.restarted();
  await clock.advance(0);
  t.is(babeld.defaultHello, '1');
  t.deepEqual([...babeld.interfaces.keys()].sort(), ['rnA', 'rnD']);
  t.regex(babeld.interfaces.get('rnD')!, /rxcost 4096$/);
  await reconciler.stop();
});

test('flushing an interface babeld no longer has is not an error', async (t) => {
  const { clock, babeld, reconciler, records } = setup();
  addIf(reconciler, 'rnA');
  await clock.advance(0);
  babeld.interfaces.delete('rnA'); // e.g. lost with a restart we have not heard of yet
  reconciler.update((d) => void d.interfaces.delete('rnA'));
  const gone = reconciler.waitUntil((d, a) => interfaceHolds(d, a, 'rnA'), 5_000);
  await clock.advance(0);
  t.true(await gone);
  t.true(babeld.handled.includes('flush interface rnA'));
  t.false(records.some((r) => r.level === 'warn'));
  t.true(reconciler.status().answering);
  await reconciler.stop();
});

test('a refused statement is retried with backoff, not in a loop', async (t) => {
  const { clock, babeld, reconciler } = setup();
  babeld.refuse = (line) => (line.startsWith('interface rnBad') ? 'bad' : undefined);
  addIf(reconciler, 'rnBad');
  await clock.advance(10_000);
  const tries = babeld.handled.filter((l) => l.startsWith('interface rnBad')).length;
  t.true(tries >= 2 && tries <= 8, `tries: ${tries}`);
  t.regex(reconciler.status().lastError ?? '', /refused "interface rnBad/);
  babeld.refuse = undefined;
  await clock.advance(15_000);
  t.is(babeld.helloOf('rnBad'), '1');
  await reconciler.stop();
});

test('babeld unanswered for long is handed over for a restart once per period', async (t) => {
  const { clock, babeld, reconciler, hung } = setup();
  await clock.advance(0);
  babeld.stall();
  reconciler.update((d) => void (d.helloSec = 2));
  await clock.advance(30_000);
  t.deepEqual(hung, [], 'not after 30 s');
  await clock.advance(40_000);
  t.is(hung.length, 1);
  t.true(hung[0]! >= 45_000 && hung[0]! <= 70_000, `unanswered ${hung[0]} ms`);
  await clock.advance(20_000);
  t.is(hung.length, 1, 'a full period again before the next');
  await reconciler.stop();
});

test('when the daemon itself runs late, a slow babeld is not declared hung', async (t) => {
  const { clock, babeld, reconciler, hung } = setup({ lateMs: 8_000 });
  await clock.advance(0);
  babeld.stall();
  reconciler.update((d) => void (d.helloSec = 2));
  await clock.advance(90_000);
  t.deepEqual(hung, []);
  babeld.resume();
  await clock.advance(60_000);
  t.is(babeld.defaultHello, '2');
  await reconciler.stop();
});

test('timeouts and the hung deadline widen with failures and lateness, within bounds', (t) => {
  const d = defaultReconcilerTimings;
  t.deepEqual([0, 1, 2, 3, 9].map((f) => requestTimeoutMs(f, 0, d)), [5_000, 10_000, 15_000, 15_000, 15_000]);
  t.is(requestTimeoutMs(0, 1_000, d), 9_000);
  t.is(unresponsiveAfterMs(0, d), 45_000);
  t.is(unresponsiveAfterMs(3_000, d), 75_000);
  t.is(unresponsiveAfterMs(600_000, d), 165_000);
});
