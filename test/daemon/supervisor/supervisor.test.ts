import test from 'ava';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Supervisor, type SupervisorEvent } from '../../../daemon/supervisor/supervisor.js';
import type { ProcAccess } from '../../../daemon/supervisor/proc.js';
import { FakeClock, flushMicrotasks } from '../../fakes/fake-clock.js';
import { FakeSpawner } from '../../fakes/fake-spawner.js';

const noProc: ProcAccess = {
  startTime: (pid) => `st${pid}`,
  cmdline: () => undefined,
  kill: () => false,
  alive: () => false,
};

function setup(options: ConstructorParameters<typeof Supervisor>[1] = {}, runDir?: string) {
  const clock = new FakeClock();
  const spawner = new FakeSpawner(clock);
  const sup = new Supervisor({ spawner, clock, proc: noProc, ...(runDir ? { runDir } : {}) }, { stopGraceMs: 5000, stableRunMs: 60_000, crashLoopFailures: 4, ...options });
  const events: SupervisorEvent[] = [];
  sup.on((e) => events.push(e));
  return { clock, spawner, sup, events };
}

test('a crash is restarted at once, then with growing backoff', async (t) => {
  const { clock, spawner, sup, events } = setup();
  sup.start({ name: 'ovpn', argv: ['openvpn', '--dev', 'rn1'] });
  t.is(spawner.specs.length, 1);
  t.deepEqual(spawner.specs[0]!.argv, ['openvpn', '--dev', 'rn1']);

  spawner.last('ovpn').exit({ code: 1, signal: null });
  await flushMicrotasks();
  t.like(events.at(-1), { kind: 'child-exited', name: 'ovpn', code: 1, restartInMs: 0, failures: 1 });
  await clock.advance(0);
  t.is(spawner.byName('ovpn').length, 2, 'first restart is immediate');

  spawner.last('ovpn').exit({ code: 1, signal: null });
  await flushMicrotasks();
  t.like(events.at(-1), { kind: 'child-exited', restartInMs: 1000, failures: 2 });
  await clock.advance(999);
  t.is(spawner.byName('ovpn').length, 2, 'not before the backoff');
  await clock.advance(1);
  t.is(spawner.byName('ovpn').length, 3);

  spawner.last('ovpn').exit({ code: null, signal: 'SIGSEGV' });
  await flushMicrotasks();
  t.like(events.at(-1), { kind: 'child-exited', signal: 'SIGSEGV', restartInMs: 2000, failures: 3 });
  t.deepEqual(sup.list().map((c) => c.state), ['backoff']);
});

test('a stable run resets the backoff', async (t) => {
  const { clock, spawner, sup, events } = setup();
  sup.start({ name: 'b', argv: ['babeld'] });
  for (let i = 0; i < 3; i++) {
    spawner.last('b').exit({ code: 1, signal: null });
    await clock.runUntilIdle();
  }
  t.like(events.filter((e) => e.kind === 'child-exited').at(-1), { failures: 3 });
  await clock.advance(60_000);
  spawner.last('b').exit({ code: 1, signal: null });
  await flushMicrotasks();
  t.like(events.at(-1), { kind: 'child-exited', failures: 1, restartInMs: 0 });
});

test('a crash loop raises one event and keeps retrying with the capped delay', async (t) => {
  const { clock, spawner, sup, events } = setup();
  spawner.defaultScript = { exitAfterMs: 10, exit: { code: 2, signal: null } };
  sup.start({ name: 'x', argv: ['false'] });
  for (let i = 0; i < 12; i++) await clock.advance(40_000);
  const loops = events.filter((e) => e.kind === 'child-crash-loop');
  t.is(loops.length, 1);
  t.like(loops[0], { name: 'x', failures: 4, code: 2 });
  t.true(spawner.byName('x').length >= 10);
  const exits = events.filter((e): e is Extract<SupervisorEvent, { kind: 'child-exited' }> => e.kind === 'child-exited');
  t.is(exits.at(-1)!.restartInMs, 30_000);
});

test('a spawn failure counts as a failure and is retried', async (t) => {
  const { clock, spawner, sup, events } = setup();
  spawner.scripts.push({ failToSpawn: true }, { failToSpawn: true });
  sup.start({ name: 'o', argv: ['nope'] });
  t.like(events[0], { kind: 'child-exited', pid: null, failures: 1, restartInMs: 0 });
  t.truthy((events[0] as { spawnError?: string }).spawnError);
  await clock.advance(0);
  t.like(events[1], { kind: 'child-exited', pid: null, failures: 2, restartInMs: 1000 });
  await clock.advance(1000);
  t.like(events[2], { kind: 'child-started', name: 'o' });
  t.is(sup.pid('o'), spawner.last('o').pid);
});

test('stop sends SIGTERM, then SIGKILL after the grace period, and does not restart', async (t) => {
  const { clock, spawner, sup, events } = setup();
  spawner.defaultScript = { onSignal: 'ignore' };
  sup.start({ name: 'stubborn', argv: ['x'] });
  const child = spawner.last('stubborn');
  let stopped = false;
  const p = sup.stop('stubborn').then(() => (stopped = true));
  await flushMicrotasks();
  t.deepEqual(child.signals, ['SIGTERM']);
  await clock.advance(4999);
  t.false(stopped);
  await clock.advance(1);
  await p;
  t.deepEqual(child.signals, ['SIGTERM', 'SIGKILL']);
  t.like(events.at(-1), { kind: 'child-exited', signal: 'SIGKILL', restartInMs: null });
  await clock.runUntilIdle();
  t.is(spawner.byName('stubborn').length, 1);
  t.false(sup.has('stubborn'));
});

test('stop during backoff cancels the pending restart', async (t) => {
  const { clock, spawner, sup } = setup();
  sup.start({ name: 'a', argv: ['a'] });
  spawner.last('a').exit({ code: 1, signal: null });
  await clock.advance(0);
  spawner.last('a').exit({ code: 1, signal: null });
  await flushMicrotasks();
  await sup.stop('a');
  await clock.runUntilIdle();
  t.is(spawner.byName('a').length, 2);
  t.deepEqual(sup.list(), []);
});

test('stopAll stops the named children first, in order', async (t) => {
  const { spawner, sup } = setup();
  const order: string[] = [];
  for (const name of ['t1', 'babeld', 't2']) sup.start({ name, argv: [name] });
  for (const c of spawner.children) void c.exited.then(() => order.push(c.spec.name));
  await sup.stopAll(['babeld']);
  t.is(order[0], 'babeld');
  t.deepEqual([...order].sort(), ['babeld', 't1', 't2']);
  t.deepEqual(sup.list(), []);
});

test('restart kills and starts again without counting a failure', async (t) => {
  const { clock, spawner, sup, events } = setup();
  sup.start({ name: 'r', argv: ['r'] });
  await sup.restart('r');
  await clock.advance(0);
  t.is(spawner.byName('r').length, 2);
  t.like(events.find((e) => e.kind === 'child-exited'), { failures: 0, restartInMs: 0, asked: true });
});

test('duplicate names are refused', (t) => {
  const { sup } = setup();
  sup.start({ name: 'd', argv: ['d'] });
  t.throws(() => sup.start({ name: 'd', argv: ['d'] }), { message: /already supervised/ });
});

test('lines of every run reach onLine; a throwing consumer does not break supervision', async (t) => {
  const { clock, spawner, sup } = setup();
  const seen: string[] = [];
  spawner.scripts.push({ lines: ['hello', 'boom'] }, { lines: ['again'] });
  sup.start({ name: 'l', argv: ['l'] }, {
    onLine: (line) => {
      seen.push(line);
      if (line === 'boom') throw new Error('consumer bug');
    },
  });
  await flushMicrotasks();
  spawner.last('l').exit({ code: 1, signal: null });
  await clock.advance(0);
  await flushMicrotasks();
  t.deepEqual(seen, ['hello', 'boom', 'again']);
});

test('children.json holds the live children with their start time', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rn-sup-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const { spawner, sup } = setup({}, dir);
  sup.start({ name: 'a', argv: ['openvpn', '--dev', 'rna'] });
  sup.start({ name: 'b', argv: ['babeld', 'x'] });
  const read = () => JSON.parse(readFileSync(join(dir, 'children.json'), 'utf8')) as { children: Array<{ name: string; pid: number; startTime: string; argv: string[] }> };
  t.deepEqual(read().children.map((c) => [c.name, c.pid, c.startTime]), [
    ['a', spawner.last('a').pid, `st${spawner.last('a').pid}`],
    ['b', spawner.last('b').pid, `st${spawner.last('b').pid}`],
  ]);
  await sup.stop('a');
  t.deepEqual(read().children.map((c) => c.name), ['b']);
  await sup.stopAll();
  t.deepEqual(read().children, []);
});

test('files a crashed run leaves behind (a stale control socket) are removed before every launch', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rn-stale-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const socket = join(dir, 'babeld.sock');
  const { clock, spawner, sup } = setup();
  const seenAtSpawn: boolean[] = [];
  const spawn = spawner.spawn.bind(spawner);
  spawner.spawn = (spec) => {
    seenAtSpawn.push(existsSync(socket));
    writeFileSync(socket, ''); // the run creates its socket
    return spawn(spec);
  };
  writeFileSync(socket, ''); // left by a run before the daemon started
  sup.start({ name: 'babeld', argv: ['babeld'], staleFiles: [socket] });
  spawner.last('babeld').exit({ code: null, signal: 'SIGSEGV' }); // no clean exit: the socket stays
  await clock.runUntilIdle();
  t.deepEqual(seenAtSpawn, [false, false], 'no launch saw the old socket');
  t.is(spawner.byName('babeld').length, 2);
});

test('beforeLaunch runs before every launch, the first and each restart, never after the spawn', async (t) => {
  const { clock, spawner, sup } = setup();
  const order: string[] = [];
  const spawn = spawner.spawn.bind(spawner);
  spawner.spawn = (spec) => {
    order.push('spawn');
    return spawn(spec);
  };
  sup.start({ name: 'babeld', argv: ['babeld'], beforeLaunch: () => void order.push('before') });
  spawner.last('babeld').exit({ code: null, signal: 'SIGKILL' });
  await clock.runUntilIdle();
  t.deepEqual(order, ['before', 'spawn', 'before', 'spawn']);
});

test('an async beforeLaunch: the child is "starting" and spawned once it resolves (or rejects); a stop meanwhile cancels the spawn, a restart does not launch twice', async (t) => {
  const { spawner, sup, events } = setup();
  const pending: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  const beforeLaunch = () => new Promise<void>((resolve, reject) => pending.push({ resolve, reject }));
  sup.start({ name: 'babeld', argv: ['babeld'], beforeLaunch });
  t.is(spawner.byName('babeld').length, 0, 'not before the flush');
  t.deepEqual(sup.list().map((c) => [c.state, c.pid]), [['starting', null]]);
  await sup.restart('babeld');
  t.is(pending.length, 1, 'a restart while starting does not launch again');
  pending[0]!.reject(new Error('ip hung'));
  await flushMicrotasks();
  t.is(spawner.byName('babeld').length, 1, 'a failed beforeLaunch still launches');
  t.like(events.at(-1), { kind: 'child-started', name: 'babeld' });
  t.is(sup.list()[0]!.state, 'running');

  sup.start({ name: 'other', argv: ['babeld'], beforeLaunch });
  await sup.stop('other');
  pending[1]!.resolve();
  await flushMicrotasks();
  t.is(spawner.byName('other').length, 0, 'stopped while starting: never spawned');
  t.false(sup.has('other'));
});
