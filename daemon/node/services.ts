// What the hub hands to many parts, made once when the node is built: the clock and
// spawner it was given, the loggers per component, the event log (kept on disk), the
// health registry and the meter of how late the daemon's timers fire.
import type { Logger } from 'pino';
import { EventLog } from '../events.js';
import { persistentEventSink, type EventWriter } from '../events-store.js';
import { HealthRegistry } from '../health/health.js';
import type { Clock } from '../sys/clock.js';
import { LatenessMeter } from '../sys/lateness.js';
import type { Spawner } from '../sys/spawner.js';
import { ComponentLogs } from './component-logs.js';

/** What a node is built with (main.ts: the real ones; tests: fakes). */
export interface NodeComponents {
  clock: Clock;
  spawner: Spawner;
  log: Logger;
  rand?: () => number;
}

export interface NodeServices {
  clock: Clock;
  spawner: Spawner;
  rand: () => number;
  log: Logger;
  logs: ComponentLogs;
  events: EventLog;
  eventStore: EventWriter;
  health: HealthRegistry;
  /** How late the daemon's timers fire: babeld's deadlines widen by it; metrics report it. */
  lateness: LatenessMeter;
}

export function nodeServices(stateDir: string, components: NodeComponents): NodeServices {
  const { clock, log } = components;
  const logs = new ComponentLogs(log);
  const eventLog = logs.for('events');
  const eventStore = persistentEventSink(stateDir, { clock, log: eventLog });
  return {
    clock, log, logs, eventStore,
    spawner: components.spawner,
    rand: components.rand ?? Math.random,
    events: new EventLog({ clock, log: (l) => eventLog.info({ kind: l.kind, peer: l.peer }, l.text), sink: eventStore }),
    health: new HealthRegistry({ clock, log: logs.for('health') }),
    // The link monitor also reports how late each of its ticks fired (every link hello interval),
    // so the meter's own timer, one more wake-up of an idle daemon, need not tick often.
    lateness: new LatenessMeter(clock, { tickMs: 1_000 }),
  };
}
