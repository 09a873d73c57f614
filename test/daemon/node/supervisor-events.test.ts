// What the node makes of a child's exit: a restart it asked for is no failure (info, and an
// event saying so); an exit nobody asked for is a warning and an event with how it ended.
import test from 'ava';
import { pino } from 'pino';
import { EventLog } from '../../../daemon/events.js';
import { HealthRegistry } from '../../../daemon/health/health.js';
import { reportSupervisorEvent } from '../../../daemon/node/supervisor-events.js';
import type { SupervisorEvent } from '../../../daemon/supervisor/index.js';
import { FakeClock } from '../../fakes/fake-clock.js';

function setup() {
  const clock = new FakeClock();
  const levels: string[] = [];
  const base = pino({ level: 'silent' });
  const log = new Proxy(base, {
    get: (target, key) => (['info', 'warn', 'error'].includes(String(key)) ? () => void levels.push(String(key)) : Reflect.get(target, key)),
  });
  const events = new EventLog({ clock });
  const health = new HealthRegistry({ clock, log: base });
  return { levels, events, report: (ev: SupervisorEvent) => reportSupervisorEvent(ev, { log, events, health }) };
}

const exited = { kind: 'child-exited', name: 'openvpn to fd00:1:0:2::/64', pid: 42, code: 0, signal: null, restartInMs: 0, failures: 0, ranForMs: 60_000 } as const;

test('a restart the daemon asked for: info, and an event that says so', (t) => {
  const f = setup();
  f.report({ ...exited, asked: true });
  t.deepEqual(f.levels, ['info']);
  t.deepEqual(f.events.list().map((e) => e.text), ['openvpn to fd00:1:0:2::/64 restarted by the daemon']);
});

test('an exit nobody asked for: a warning, and an event with how it ended and when it restarts', (t) => {
  const f = setup();
  f.report({ ...exited, code: 1, restartInMs: 1_000, failures: 1 });
  t.deepEqual(f.levels, ['warn']);
  t.deepEqual(f.events.list().map((e) => e.text), ['openvpn to fd00:1:0:2::/64 exited with code 1; restarting in 1.0 s']);
});
