import test from 'ava';
import { FLUSH_BABEL_ROUTES_ARGV, flushStaleBabelRoutes, staleBabelRoutesFlusher } from '../../../daemon/babel/stale-routes.js';

test('the flush removes IPv6 routes of protocol babel only', (t) => {
  t.deepEqual(FLUSH_BABEL_ROUTES_ARGV, ['ip', '-6', 'route', 'flush', 'proto', 'babel']);
  const ran: string[][] = [];
  t.is(flushStaleBabelRoutes((file, args) => void ran.push([file, ...args])), undefined);
  t.deepEqual(ran, [[...FLUSH_BABEL_ROUTES_ARGV]]);
});

test('a failing or hanging ip is reported with its stderr, never thrown', (t) => {
  const failing = () => {
    throw Object.assign(new Error('Command failed'), { stderr: Buffer.from('RTNETLINK answers: Operation not permitted\n') });
  };
  t.is(flushStaleBabelRoutes(failing), 'ip -6 route flush proto babel failed: RTNETLINK answers: Operation not permitted');
  const warned: unknown[] = [];
  staleBabelRoutesFlusher({ warn: (o: unknown) => void warned.push(o) } as never, () => {
    throw new Error('spawnSync ip ETIMEDOUT');
  })();
  t.deepEqual(warned, [{ problem: 'ip -6 route flush proto babel failed: spawnSync ip ETIMEDOUT' }]);
});
