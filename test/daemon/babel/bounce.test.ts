// The link bounce that makes babeld apply a stored cost: the commands in order (the
// link-local address added again before up),
// up only after babeld saw the link down, and up again even when babeld was too
// slow to see it (then the bounce reports failure, so the caller flushes instead).
import test from 'ava';
import { bounceCommands, bounceLink, type BounceDeps } from '../../../daemon/babel/bounce.js';
import { FakeBabeldState } from '../../fakes/fake-babeld.js';
import { FakeClock } from '../../fakes/fake-clock.js';

/** The kernel drops a link-local address when the link goes down: the bounce adds it back. */
const LL = 'fe80::1:2:3:4';

function setup(options: { stalled?: boolean; failing?: (argv: string[]) => boolean } = {}) {
  const clock = new FakeClock();
  const babeld = new FakeBabeldState();
  babeld.handle('interface rnA type tunnel hello-interval 1');
  babeld.handle('interface rnA type tunnel hello-interval 1 rxcost 4096');
  const ran: string[] = [];
  const seenDownBeforeUp: boolean[] = [];
  const deps: BounceDeps = {
    clock,
    babelSeesUp: (n) => (babeld.interfaces.has(n) ? !babeld.linkDown.has(n) : undefined),
    run: async (argv) => {
      ran.push(argv.join(' '));
      if (options.failing?.(argv)) return { exitCode: 1, stderr: 'RTNETLINK answers: Operation not permitted' };
      if (argv.at(-1) === 'down') babeld.whenRunning(() => babeld.setLink('rnA', false));
      if (argv.at(-1) === 'up') {
        seenDownBeforeUp.push(babeld.linkDown.has('rnA'));
        babeld.whenRunning(() => babeld.setLink('rnA', true));
      }
      return { exitCode: 0, stderr: '' };
    },
  };
  if (options.stalled) babeld.stall();
  return { clock, babeld, deps, ran, seenDownBeforeUp };
}

async function runOnClock<T>(clock: FakeClock, p: Promise<T>): Promise<T> {
  let done = false;
  void p.then(() => (done = true), () => (done = true));
  for (let i = 0; i < 10_000 && !done; i++) {
    await new Promise((r) => setImmediate(r));
    await clock.advance(10);
  }
  return p;
}

test('keep the addresses, down, wait until babeld saw it down, up: babeld runs the stored cost', async (t) => {
  const { clock, babeld, deps, ran, seenDownBeforeUp } = setup();
  t.is(babeld.rxcostOf('rnA'), null);
  const r = await runOnClock(clock, bounceLink('rnA', deps, { timeoutMs: 2_000, linkLocal: LL }));
  t.like(r, { ok: true, upSeen: true });
  const c = bounceCommands('rnA', LL);
  t.deepEqual(ran, [c.down.join(' '), `ip -6 addr replace ${LL}/64 dev rnA`, c.up.join(' ')]);
  t.deepEqual(seenDownBeforeUp, [true]);
  t.is(babeld.rxcostOf('rnA'), '4096');
  t.false(babeld.handled.some((l) => l.startsWith('flush')), 'no flush');
});

test('babeld too slow to see the link down: the link still comes up, and the bounce reports failure', async (t) => {
  const { clock, babeld, deps, ran } = setup({ stalled: true });
  const r = await runOnClock(clock, bounceLink('rnA', deps, { timeoutMs: 500, linkLocal: LL }));
  t.false(r.ok);
  t.regex(r.ok ? '' : r.why, /did not notice rnA go down within 500 ms/);
  t.is(ran.at(-1), bounceCommands('rnA', LL).up.join(' '));
  babeld.resume();
  t.false(babeld.linkDown.has('rnA'), 'up again once babeld runs');
});

test('a refused down leaves the link alone; a refused up is tried again and reported', async (t) => {
  const down = setup({ failing: (argv) => argv.at(-1) === 'down' });
  const r1 = await runOnClock(down.clock, bounceLink('rnA', down.deps, { timeoutMs: 500, linkLocal: LL }));
  t.false(r1.ok);
  t.regex(r1.ok ? '' : r1.why, /cannot set rnA down: RTNETLINK answers/);
  t.false(down.ran.some((l) => l.endsWith(' up')));

  const up = setup({ failing: (argv) => argv.at(-1) === 'up' });
  const r2 = await runOnClock(up.clock, bounceLink('rnA', up.deps, { timeoutMs: 500, linkLocal: LL }));
  t.false(r2.ok);
  t.regex(r2.ok ? '' : r2.why, /cannot set rnA up again/);
  t.is(up.ran.filter((l) => l.endsWith(' up')).length, 3);
});
