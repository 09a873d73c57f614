// The node's endpoint as the daemon starts it: served from the parts that exist
// (none yet, here), off when configured so, and a health item, not a failure,
// when its port is taken.
import test from 'ava';
import { pino } from 'pino';
import { HealthRegistry } from '../../../daemon/health/health.js';
import { METRICS_HEALTH, startNodeMetrics, type NodeMetricsDeps } from '../../../daemon/metrics/node-endpoint.js';
import { FakeClock } from '../../fakes/fake-clock.js';
import { parseExposition, value } from '../../metrics/exposition.js';

function deps(): NodeMetricsDeps & { health: HealthRegistry; clock: FakeClock } {
  const clock = new FakeClock();
  const log = pino({ level: 'silent' });
  return { parts: {}, clock, log, health: new HealthRegistry({ clock, log }), lateness: { recentMaxMs: () => 30 }, startedAtMs: clock.nowMs() - 5_000 };
}

test('serves what the parts offer; a node still starting has no tunnels', async (t) => {
  const d = deps();
  const running = await startNodeMetrics({ enabled: true, listen: '127.0.0.1:0', top_peers: 5 }, d);
  t.teardown(() => running?.stop());
  t.regex(running?.listen ?? '', /^127\.0\.0\.1:\d+$/);
  running!.reloaded('refused');
  const e = parseExposition(await (await fetch(`http://${running!.listen}/metrics`)).text());
  t.is(value(e, 'resilnet_uptime_seconds'), 5);
  t.is(value(e, 'resilnet_event_loop_delay_seconds'), 0.03);
  t.is(value(e, 'resilnet_tunnels', { direction: 'outgoing', state: 'up' }), 0);
  t.is(value(e, 'resilnet_reloads_total', { result: 'refused' }), 1);
});

test('enabled = false or listen = "" starts nothing', async (t) => {
  t.is(await startNodeMetrics({ enabled: false, listen: '127.0.0.1:0', top_peers: 5 }, deps()), undefined);
  t.is(await startNodeMetrics({ enabled: true, listen: '', top_peers: 5 }, deps()), undefined);
});

test('a port in use raises a health item and the daemon goes on', async (t) => {
  const first = await startNodeMetrics({ enabled: true, listen: '127.0.0.1:0', top_peers: 5 }, deps());
  t.teardown(() => first?.stop());
  const d = deps();
  const second = await startNodeMetrics({ enabled: true, listen: first!.listen!, top_peers: 5 }, d);
  t.teardown(() => second?.stop());
  t.is(second?.listen, null);
  const item = d.health.list().find((h) => h.code === METRICS_HEALTH);
  t.is(item?.severity, 'warning');
  t.regex(item?.text ?? '', /EADDRINUSE.*\[metrics\] listen/);
});
