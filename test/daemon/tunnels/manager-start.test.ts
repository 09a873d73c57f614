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

test('a tunnel that comes up asks the peer\'s babeld for its routes; one still connecting does not', async (t) => {
  const s = managerFixture();
  const B = peerPrefix(2);
  t.true(await s.manager.open(B));
  t.deepEqual(s.routeRequests, []);
  s.up(B);
  t.deepEqual(s.routeRequests, [`rn2 ${B}`]);
});
