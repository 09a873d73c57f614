// The babel desired-state planner: which statement comes next, and how babeld's
// answers and dumps change what we believe it runs.
import test from 'ava';
import { DRAIN_RXCOST } from '../../../daemon/babel/argv.js';
import { afterDump, afterStep, emptyApplied, helloHolds, interfaceHolds, nextBabelStep, pendingSteps, type AppliedBabel, type AppliedInterface, type DesiredBabel, type DesiredInterface } from '../../../daemon/babel/desired.js';

const desired = (helloSec: number, ifs: Record<string, Partial<DesiredInterface>> = {}): DesiredBabel => ({
  helloSec,
  interfaces: new Map(Object.entries(ifs).map(([n, d]) => [n, { draining: false, suspended: false, ...d }])),
});
const applied = (defaultHelloSec: number | null, ifs: Record<string, AppliedInterface> = {}): AppliedBabel => ({ defaultHelloSec, interfaces: new Map(Object.entries(ifs)) });
const lines = (d: DesiredBabel, a: AppliedBabel): string[] => pendingSteps(d, a).map((s) => s.line);

test('a fresh babeld gets the default hello, then each interface', (t) => {
  t.deepEqual(lines(desired(1, { rnA: {}, rnB: { draining: true }, rnC: { suspended: true } }), emptyApplied()), [
    'default hello-interval 1',
    'interface rnA type tunnel hello-interval 1',
    `interface rnB type tunnel hello-interval 1 rxcost ${DRAIN_RXCOST}`,
  ]);
});

test('rows: desired against applied → the statements still to send', (t) => {
  const h1 = { helloSec: 1, rxcost: null };
  const rows: Array<[string, DesiredBabel, AppliedBabel, string[]]> = [
    ['all confirmed', desired(1, { rnA: {} }), applied(1, { rnA: h1 }), []],
    ['hello changed: default, then flush + add per interface', desired(2, { rnA: {} }), applied(1, { rnA: h1 }), ['default hello-interval 2', 'flush interface rnA', 'interface rnA type tunnel hello-interval 2']],
    ['an unanswered interface is flushed and added again', desired(1, { rnA: {} }), applied(1, { rnA: 'unknown' }), ['flush interface rnA', 'interface rnA type tunnel hello-interval 1']],
    ['removed or suspended: flushed', desired(1, { rnB: { suspended: true } }), applied(1, { rnA: h1, rnB: h1 }), ['flush interface rnB', 'flush interface rnA']],
    ['an unknown interface nobody wants is flushed', desired(1), applied(1, { rnX: 'unknown' }), ['flush interface rnX']],
    ['drain: flush + add with the drain cost', desired(1, { rnA: { draining: true } }), applied(1, { rnA: h1 }), ['flush interface rnA', `interface rnA type tunnel hello-interval 1 rxcost ${DRAIN_RXCOST}`]],
    ['an unconfirmed default is sent again', desired(1, { rnA: {} }), applied(null, { rnA: h1 }), ['default hello-interval 1']],
  ];
  for (const [name, d, a, want] of rows) t.deepEqual(lines(d, a), want, name);
});

test('afterStep: ok and "no such interface" apply, a failure leaves the interface unknown', (t) => {
  const d = desired(1, { rnA: {} });
  const add = nextBabelStep(d, applied(1))!;
  t.is(add.kind, 'add');
  t.deepEqual([...afterStep(applied(1), add, 'ok').interfaces], [['rnA', { helloSec: 1, rxcost: null }]]);
  t.deepEqual([...afterStep(applied(1), add, 'failed').interfaces], [['rnA', 'unknown']]);
  const flush = nextBabelStep(desired(1), applied(1, { rnA: 'unknown' }))!;
  t.is(flush.kind, 'flush');
  t.deepEqual([...afterStep(applied(1, { rnA: 'unknown' }), flush, 'gone').interfaces], []);
  t.deepEqual([...afterStep(applied(1, { rnA: 'unknown' }), flush, 'failed').interfaces], [['rnA', 'unknown']]);
  const def = nextBabelStep(desired(2), applied(1))!;
  t.is(afterStep(applied(1), def, 'ok').defaultHelloSec, 2);
  t.is(afterStep(applied(1), def, 'failed').defaultHelloSec, null);
});

test('afterDump: interfaces babeld lost are re-added; ones we did not know become unknown; the placeholder is ignored', (t) => {
  const a = applied(1, { rnA: { helloSec: 1, rxcost: null }, rnB: { helloSec: 1, rxcost: null } });
  const next = afterDump(a, ['rn-placeholder', 'rnA', 'rnStale']);
  t.deepEqual([...next.interfaces], [['rnA', { helloSec: 1, rxcost: null }], ['rnStale', 'unknown']]);
  t.deepEqual(lines(desired(1, { rnA: {}, rnB: {} }), next), ['interface rnB type tunnel hello-interval 1', 'flush interface rnStale']);
});

test('helloHolds and interfaceHolds', (t) => {
  const d = desired(2, { rnA: {}, rnS: { suspended: true } });
  t.false(helloHolds(d, applied(2, { rnA: { helloSec: 1, rxcost: null } })));
  t.true(helloHolds(d, applied(2, { rnA: { helloSec: 2, rxcost: null } })));
  t.false(helloHolds(d, applied(1, { rnA: { helloSec: 2, rxcost: null } })));
  t.true(interfaceHolds(d, applied(2), 'rnS'), 'suspended and absent');
  t.false(interfaceHolds(d, applied(2, { rnS: 'unknown' }), 'rnS'));
  t.true(interfaceHolds(d, applied(2), 'rnGone'), 'not wanted and absent');
});

test('rows with live cost changes: a drain or its undoing sets the cost, then bounces the link; other changes still flush', (t) => {
  const live = { liveCost: true };
  const liveLines = (d: DesiredBabel, a: AppliedBabel): string[] => pendingSteps(d, a, live).map((s) => s.line);
  const h1 = { helloSec: 1, rxcost: null };
  const drained = { helloSec: 1, rxcost: DRAIN_RXCOST };
  const rows: Array<[string, DesiredBabel, AppliedBabel, string[]]> = [
    ['drain: set, then bounce', desired(1, { rnA: { draining: true } }), applied(1, { rnA: h1 }), [`interface rnA type tunnel hello-interval 1 rxcost ${DRAIN_RXCOST}`, `bounce link rnA (rxcost ${DRAIN_RXCOST})`]],
    ['drain cost already stored: only the bounce', desired(1, { rnA: { draining: true } }), applied(1, { rnA: { ...h1, stored: DRAIN_RXCOST } }), [`bounce link rnA (rxcost ${DRAIN_RXCOST})`]],
    ['restore: the normal cost, explicitly, then bounce', desired(1, { rnA: {} }), applied(1, { rnA: drained }), ['interface rnA type tunnel hello-interval 1 rxcost 96', 'bounce link rnA (rxcost 96)']],
    ['an explicit 96 is the default cost: nothing to do', desired(1, { rnA: {} }), applied(1, { rnA: { helloSec: 1, rxcost: 96 } }), []],
    ['a new drained interface is simply added', desired(1, { rnA: { draining: true } }), applied(1), [`interface rnA type tunnel hello-interval 1 rxcost ${DRAIN_RXCOST}`]],
    ['hello changed: still flush + add', desired(2, { rnA: { draining: true } }), applied(2, { rnA: h1 }), ['flush interface rnA', `interface rnA type tunnel hello-interval 2 rxcost ${DRAIN_RXCOST}`]],
    ['unknown (a failed bounce): flush + add', desired(1, { rnA: { draining: true } }), applied(1, { rnA: 'unknown' }), ['flush interface rnA', `interface rnA type tunnel hello-interval 1 rxcost ${DRAIN_RXCOST}`]],
  ];
  for (const [name, d, a, want] of rows) t.deepEqual(liveLines(d, a), want, name);
});

test('afterStep of set and bounce: set stores the cost, bounce runs it, a failure makes the interface unknown', (t) => {
  const d = desired(1, { rnA: { draining: true } });
  const start = applied(1, { rnA: { helloSec: 1, rxcost: null } });
  const set = nextBabelStep(d, start, { liveCost: true })!;
  t.is(set.kind, 'set');
  const stored = afterStep(start, set, 'ok');
  t.deepEqual(stored.interfaces.get('rnA'), { helloSec: 1, rxcost: null, stored: DRAIN_RXCOST });
  t.false(interfaceHolds(d, stored, 'rnA'), 'stored is not running');
  const bounce = nextBabelStep(d, stored, { liveCost: true })!;
  t.is(bounce.kind, 'bounce');
  const bounced = afterStep(stored, bounce, 'ok');
  t.deepEqual(bounced.interfaces.get('rnA'), { helloSec: 1, rxcost: DRAIN_RXCOST });
  t.true(interfaceHolds(d, bounced, 'rnA'));
  t.is(afterStep(stored, bounce, 'failed').interfaces.get('rnA'), 'unknown');
  t.is(afterStep(start, set, 'failed').interfaces.get('rnA'), 'unknown');
});
