// The manager at start-up: tunnel requests of a plan round go out together but
// at most OPEN_PARALLEL at once, and a tunnel that comes up asks the peer's
// babeld for its routes.
import test from 'ava';
import { inParallel, OPEN_PARALLEL } from '../../../daemon/tunnels/manager.js';
import { managerFixture, peerPrefix } from './manager-fixture.js';

test('inParallel: every item, in order, never more than `width` at once', async (t) => {
  let running = 0;
  let most = 0;
  const seen: number[] = [];
  const gates: Array<() => void> = [];
  const all = inParallel([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
    seen.push(n);
    running++;
    most = Math.max(most, running);
    await new Promise<void>((resolve) => gates.push(resolve));
    running--;
  });
  while (seen.length < 7 || gates.length > 0) {
    await new Promise((r) => setImmediate(r));
    gates.shift()?.();
  }
  await all;
  t.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7]);
  t.is(most, 3);
  await inParallel([], 3, async () => t.fail('no item, no call'));
});

test('a plan round asks up to OPEN_PARALLEL peers at once, and the rest as answers come', async (t) => {
  const count = OPEN_PARALLEL + 2;
  const peers = Array.from({ length: count }, (_, i): [string, string] => [peerPrefix(i + 2), `10.0.0.${i + 2}:1194`]);
  const gates: Array<() => void> = [];
  let inFlight = 0;
  let most = 0;
  const requestGate = async (): Promise<void> => {
    inFlight++;
    most = Math.max(most, inFlight);
    await new Promise<void>((resolve) => gates.push(resolve));
    inFlight--;
  };
  const s = managerFixture({ peers, planContext: () => ({ clientCount: count }), options: { maxClients: 10 }, requestGate });
  const round = s.manager.planRound(new AbortController().signal);
  while (s.requests.length < count || gates.length > 0) {
    await new Promise((r) => setImmediate(r));
    gates.shift()?.();
  }
  const plan = await round;
  t.is(plan.open.length, count);
  t.is(most, OPEN_PARALLEL);
  t.is(s.started.length, count, 'every accepted request started its end');
});

test('a tunnel that comes up asks the peer\'s babeld for its routes once our babeld runs it; one still connecting does not', async (t) => {
  let added = (): void => {};
  const s = managerFixture({ deps: { babel: { addInterface: () => new Promise<void>((resolve) => (added = resolve)), removeInterface: async () => {}, raiseCost: async () => {}, routeCount: () => 0 } } });
  const B = peerPrefix(2);
  t.true(await s.manager.open(B));
  t.deepEqual(s.routeRequests, []);
  s.up(B);
  await new Promise((r) => setImmediate(r));
  t.deepEqual(s.routeRequests, [], 'not while our babeld has not taken the tunnel');
  added();
  await new Promise((r) => setImmediate(r));
  t.deepEqual(s.routeRequests, [`rn2 ${B}`]);
});

test('a failed babel add still greets the peer; a tunnel gone meanwhile is not greeted', async (t) => {
  const adds: Array<{ ifName: string; resolve: () => void; reject: (e: Error) => void }> = [];
  const B = peerPrefix(2);
  const C = peerPrefix(3);
  const s = managerFixture({
    peers: [[B, '10.0.0.2:1194'], [C, '10.0.0.3:1194']],
    deps: { babel: { addInterface: (ifName) => new Promise<void>((resolve, reject) => adds.push({ ifName, resolve, reject })), removeInterface: async () => {}, raiseCost: async () => {}, routeCount: () => 0 } },
  });
  t.true(await s.manager.open(B));
  t.true(await s.manager.open(C));
  s.up(B);
  s.up(C);
  await s.manager.close(C, 'test');
  for (const add of adds) {
    if (add.ifName === 'rn2') add.reject(new Error('babeld busy'));
    else add.resolve();
  }
  await new Promise((r) => setImmediate(r));
  t.deepEqual(s.routeRequests, [`rn2 ${B}`]);
});
