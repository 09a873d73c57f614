// BabelLink with a real supervisor (fake children) and a fake babeld on a real
// Unix socket: a babeld frozen at start does not fail start(), a reload during a
// freeze reports pending and holds after it, a babeld restart gets the whole
// desired state again, and a babeld hung for long is restarted.
import test from 'ava';
import { pino } from 'pino';
import { BABELD_CHILD, BabelLink } from '../../../daemon/babel-link.js';
import { HealthRegistry } from '../../../daemon/health/health.js';
import { linkLocalFor } from '../../../daemon/identity.js';
import { Supervisor } from '../../../daemon/supervisor/index.js';
import { systemClock } from '../../../daemon/sys/clock.js';
import { onTime } from '../../../daemon/sys/lateness.js';
import { fakeBabeldSocket, FakeBabeldState } from '../../fakes/fake-babeld.js';
import { tempSocketPath } from '../../fakes/fake-line-server.js';
import { FakeSpawner } from '../../fakes/fake-spawner.js';
import { waitFor } from '../../fixtures/wait.js';

const log = pino({ level: 'silent' });
/** Short deadlines, for the tests that stall babeld on purpose. */
const stallTimings = { requestTimeoutMs: 500, maxRequestTimeoutMs: 1_000, retry: { firstMs: 50, maxMs: 200 }, verifyIntervalMs: 1_000, unresponsiveMs: 3_000 };
const stallWaits = { confirmWaitMs: 600, startWaitMs: 600 };
/** Generous ones, for the tests whose babeld answers (a loaded machine must not make them fail). */
const calm = { confirmWaitMs: 15_000, startWaitMs: 15_000, timings: { requestTimeoutMs: 5_000, verifyIntervalMs: 1_000 } };

/** An ip runner for bounces: the link state goes to the fake babeld, as babeld would see it. */
function fakeIp(babeld: FakeBabeldState, ran: string[], refuse = false) {
  return async (argv: string[]) => {
    ran.push(argv.join(' '));
    if (refuse) return { exitCode: 2, stderr: 'Cannot find device' };
    const ifName = argv[4];
    if (argv[0] === 'ip' && argv[1] === 'link' && ifName) babeld.setLink(ifName, argv.at(-1) === 'up');
    return { exitCode: 0, stderr: '' };
  };
}

/**
 * The fake babeld makes its control socket when "babeld" is launched, as babeld does: the
 * supervisor removes a stale socket before every launch.
 */
function fakeBabeldOnLaunch(supervisor: Supervisor, socketPath: string, babeld: FakeBabeldState): { close(): Promise<void> } {
  let server: ReturnType<typeof fakeBabeldSocket> | undefined;
  let chain: Promise<unknown> = Promise.resolve();
  supervisor.on((ev) => {
    if (ev.kind !== 'child-started' || ev.name !== BABELD_CHILD) return;
    chain = chain.then(async () => {
      await server?.close();
      server = fakeBabeldSocket(socketPath, babeld);
      await server.listen();
    });
  });
  return { close: () => chain.then(() => server?.close()) };
}

async function setup(t: Parameters<typeof tempSocketPath>[0], options: { stalled?: boolean; calm?: boolean; spawner?: FakeSpawner; refuseIp?: boolean; flushStaleRoutes?: () => Promise<void> } = {}) {
  const socketPath = tempSocketPath(t, 'babel-link', 'babeld.sock');
  const babeld = new FakeBabeldState();
  if (options.stalled) babeld.stall();
  const spawner = options.spawner ?? new FakeSpawner();
  const supervisor = new Supervisor({ spawner, clock: systemClock }, { stopGraceMs: 200 });
  const server = fakeBabeldOnLaunch(supervisor, socketPath, babeld);
  // A new babeld process knows nothing of the old one's runtime statements.
  supervisor.on((ev) => {
    if (ev.kind === 'child-started' && ev.name === BABELD_CHILD && ev.restarts > 0) babeld.restart();
  });
  const health = new HealthRegistry({ clock: systemClock, log });
  const ipRan: string[] = [];
  const bounces: string[] = [];
  const link = new BabelLink(
    { socketPath, stateFile: '/nonexistent/babeld.state', helloIntervalSec: 1, ownPrefix: 'fd00:1:2:3::/64', nodeAddress: 'fd00:1:2:3::1' },
    { clock: systemClock, log, supervisor, health, lateness: onTime, runIp: fakeIp(babeld, ipRan, options.refuseIp), onLinkBounce: (ifName, phase) => bounces.push(`${phase} ${ifName}`), ...(options.flushStaleRoutes ? { flushStaleRoutes: options.flushStaleRoutes } : {}) },
    { ...(options.calm ? calm : { ...stallWaits, timings: stallTimings }), liveCost: 'bounce' },
  );
  t.teardown(async () => {
    babeld.resume();
    await link.stop();
    await supervisor.stopAll();
    await server.close();
  });
  return { babeld, link, spawner, supervisor, health, ipRan, bounces };
}

test('babeld frozen at start: start resolves, a reload reports pending, and everything holds after it thaws', async (t) => {
  const { babeld, link, health } = await setup(t, { stalled: true });
  await link.start();
  t.is(babeld.handled.length, 0);
  await link.addInterface('rnA');
  const r = await link.reconfigure({ helloIntervalSec: 2 });
  t.false(r.applied);
  t.regex(r.pending ?? '', /not confirmed hello interval 2 s/);
  await waitFor(() => {
    if (!health.has('RN_BABEL_UNREACHABLE')) throw new Error('no health item yet');
    return true;
  }, { what: 'the babeld warning', timeoutMs: 5_000, intervalMs: 50 });
  t.like(link.status(), { helloIntervalSec: null, desiredHelloIntervalSec: 2, answering: false });

  babeld.resume();
  await waitFor(() => {
    if (link.status().helloIntervalSec !== 2) throw new Error(JSON.stringify(link.status()));
    return true;
  }, { what: 'hello 2 confirmed', timeoutMs: 10_000, intervalMs: 50 });
  t.is(babeld.defaultHello, '2');
  t.is(babeld.helloOf('rnA'), '2');
  t.like(link.status(), { answering: true, pending: [] });
  t.false(health.has('RN_BABEL_UNREACHABLE'));
  t.deepEqual(await link.reconfigure({ helloIntervalSec: 2 }), { applied: true });
});

test('a reload against an answering babeld is applied on every interface', async (t) => {
  const { babeld, link } = await setup(t, { calm: true });
  await link.start();
  await link.addInterface('rnA');
  await link.raiseCost('rnB');
  t.deepEqual(await link.reconfigure({ helloIntervalSec: 0.5 }), { applied: true });
  t.is(babeld.helloOf('rnA'), '0.5');
  t.regex(babeld.interfaces.get('rnB')!, /hello-interval 0\.5 rxcost 4096$/);
  await link.removeInterface('rnA');
  t.false(babeld.interfaces.has('rnA'));
  // Already gone: still fine.
  await link.removeInterface('rnA');
  await link.suspendInterface('rnB');
  t.false(babeld.interfaces.has('rnB'));
  await link.resumeInterface('rnB');
  t.regex(babeld.interfaces.get('rnB')!, /rxcost 4096$/);
});

test('after babeld exits, the restarted one gets the default hello and every interface again', async (t) => {
  const { babeld, link, spawner } = await setup(t, { calm: true });
  await link.start();
  await link.addInterface('rnA');
  await link.addInterface('rnB');
  await link.suspendInterface('rnB');
  spawner.last(BABELD_CHILD).exit({ code: 1, signal: null });
  await waitFor(() => {
    if (spawner.byName(BABELD_CHILD).length < 2) throw new Error('not restarted yet');
    if (babeld.defaultHello !== '1' || !babeld.interfaces.has('rnA')) throw new Error(`babeld runs ${[...babeld.interfaces.keys()]}`);
    return true;
  }, { what: 'the desired state on the new babeld', timeoutMs: 10_000, intervalMs: 50 });
  t.false(babeld.interfaces.has('rnB'), 'a suspended interface stays out');
});

test('a babeld that stays unanswered is restarted, and the new one is configured', async (t) => {
  const { babeld, link, spawner } = await setup(t);
  await link.start();
  await link.addInterface('rnA');
  babeld.stall();
  await waitFor(() => {
    const first = spawner.byName(BABELD_CHILD)[0]!;
    if (!first.signals.includes('SIGTERM')) throw new Error('not restarted yet');
    return true;
  }, { what: 'the hung babeld restarted', timeoutMs: 15_000, intervalMs: 50 });
  await waitFor(() => {
    // The fake's state is cleared only when the new process starts: wait for that start first.
    if (spawner.byName(BABELD_CHILD).length < 2) throw new Error('no new babeld yet');
    if (babeld.defaultHello !== '1' || babeld.helloOf('rnA') !== '1') throw new Error('not configured yet');
    return true;
  }, { what: 'the new babeld configured', timeoutMs: 15_000, intervalMs: 50 });
  // Restarted at least once (a loaded test machine may make the new one look hung too).
  t.true(spawner.byName(BABELD_CHILD).length >= 2);
});

test('start fails with a clear error only when babeld cannot be started at all', async (t) => {
  const spawner = new FakeSpawner();
  spawner.scripts.push({ failToSpawn: true });
  const { link } = await setup(t, { spawner });
  const err = await t.throwsAsync(link.start());
  t.is((err as { code?: string }).code, 'RN_BABEL_NOT_STARTED');
  t.regex(err!.message, /Install babeld/);
});

test('babeld is launched after the flush of stale routes, which does not hold up the event loop; a missing babeld is still a clear error', async (t) => {
  const spawner = new FakeSpawner();
  spawner.scripts.push({ failToSpawn: true });
  let flushed = (): void => {};
  const { link } = await setup(t, { spawner, flushStaleRoutes: () => new Promise<void>((resolve) => (flushed = resolve)) });
  const started = link.start();
  await new Promise((r) => setImmediate(r));
  t.is(spawner.byName(BABELD_CHILD).length, 0, 'no launch before the flush');
  flushed();
  const err = await t.throwsAsync(started);
  t.is((err as { code?: string }).code, 'RN_BABEL_NOT_STARTED');
});

test('drain of a live tunnel: the cost is stored and the link bounced, never flushed; restoring does the same', async (t) => {
  const { babeld, link, ipRan, bounces } = await setup(t, { calm: true });
  await link.start();
  await link.addInterface('rnA');
  const before = babeld.handled.length;
  await link.raiseCost('rnA');
  t.is(babeld.rxcostOf('rnA'), '4096');
  t.deepEqual(bounces, ['start rnA', 'end rnA'], 'link liveness is told of the planned silence');
  const sent = () => babeld.handled.slice(before).filter((l) => l !== 'dump');
  t.deepEqual(sent(), ['interface rnA type tunnel hello-interval 1 rxcost 4096']);
  t.deepEqual(ipRan, ['ip link set dev rnA down', `ip -6 addr replace ${linkLocalFor('fd00:1:2:3::/64')}/64 dev rnA`, 'ip link set dev rnA up']);
  await link.restoreCost('rnA');
  t.is(babeld.rxcostOf('rnA'), '96');
  t.deepEqual(sent(), ['interface rnA type tunnel hello-interval 1 rxcost 4096', 'interface rnA type tunnel hello-interval 1 rxcost 96']);
  t.is(ipRan.length, 6);
  t.like(link.status(), { pending: [] });
});

test('a bounce that cannot be done falls back to flush + add, and the drain cost still holds', async (t) => {
  const { babeld, link } = await setup(t, { calm: true, refuseIp: true });
  await link.start();
  await link.addInterface('rnA');
  await link.raiseCost('rnA');
  await waitFor(() => {
    if (babeld.rxcostOf('rnA') !== '4096') throw new Error(`rxcost ${babeld.rxcostOf('rnA')}`);
    return true;
  }, { what: 'the drain cost by flush + add', timeoutMs: 15_000, intervalMs: 50 });
  t.true(babeld.handled.includes('flush interface rnA'));
});

test('with liveCost flush, a drain of a live tunnel is flush + add and no link is bounced', async (t) => {
  const socketPath = tempSocketPath(t, 'babel-link', 'babeld.sock');
  const babeld = new FakeBabeldState();
  const supervisor = new Supervisor({ spawner: new FakeSpawner(), clock: systemClock }, { stopGraceMs: 200 });
  const server = fakeBabeldOnLaunch(supervisor, socketPath, babeld);
  const ipRan: string[] = [];
  const link = new BabelLink(
    { socketPath, stateFile: '/nonexistent/babeld.state', helloIntervalSec: 1, ownPrefix: 'fd00:1:2:3::/64', nodeAddress: 'fd00:1:2:3::1' },
    { clock: systemClock, log, supervisor, lateness: onTime, runIp: fakeIp(babeld, ipRan) },
    { confirmWaitMs: calm.confirmWaitMs, startWaitMs: calm.startWaitMs, timings: calm.timings, liveCost: 'flush' },
  );
  t.teardown(async () => {
    await link.stop();
    await supervisor.stopAll();
    await server.close();
  });
  await link.start();
  await link.addInterface('rnA');
  await link.raiseCost('rnA');
  t.is(babeld.rxcostOf('rnA'), '4096');
  t.true(babeld.handled.includes('flush interface rnA'));
  t.deepEqual(ipRan, []);
});
