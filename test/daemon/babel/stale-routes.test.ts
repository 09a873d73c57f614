import test from 'ava';
import { FLUSH_BABEL_ROUTES_ARGV, flushStaleBabelRoutes, staleBabelRoutesFlusher, type RunIp } from '../../../daemon/babel/stale-routes.js';

const ok = (argv: string[]) => ({ argv, exitCode: 0, stderr: '', timedOut: false });

test('the flush removes IPv6 routes of protocol babel only', async (t) => {
  t.deepEqual(FLUSH_BABEL_ROUTES_ARGV, ['ip', '-6', 'route', 'flush', 'proto', 'babel']);
  const ran: string[][] = [];
  t.is(await flushStaleBabelRoutes(async (argv) => (ran.push(argv), ok(argv))), undefined);
  t.deepEqual(ran, [[...FLUSH_BABEL_ROUTES_ARGV]]);
});

test('a failing or hanging ip is reported with its stderr, never thrown', async (t) => {
  const failing: RunIp = async (argv) => ({ argv, exitCode: 2, stderr: 'RTNETLINK answers: Operation not permitted\n', timedOut: false });
  t.is(await flushStaleBabelRoutes(failing), 'ip -6 route flush proto babel failed: RTNETLINK answers: Operation not permitted');
  const warned: unknown[] = [];
  await staleBabelRoutesFlusher({ warn: (o: unknown) => void warned.push(o) } as never, async (argv) => ({ argv, exitCode: -1, stderr: '', timedOut: true }))();
  t.deepEqual(warned, [{ problem: 'ip -6 route flush proto babel failed: no answer within 10 s' }]);
});
