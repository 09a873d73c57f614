// What the node makes of its children's lives: log lines, an event when one
// exits (unasked, or restarted at the daemon's request), a health item when one keeps crashing.
import type { Logger } from 'pino';
import type { EventLog } from '../events.js';
import type { HealthRegistry } from '../health/health.js';
import type { SupervisorEvent } from '../supervisor/index.js';

export function reportSupervisorEvent(ev: SupervisorEvent, to: { log: Logger; events: EventLog; health: HealthRegistry }): void {
  const { log } = to;
  if (ev.kind === 'child-started') {
    log.info({ child: ev.name, pid: ev.pid, restarts: ev.restarts }, 'child started');
  } else if (ev.kind === 'child-exited') {
    const how = ev.spawnError ?? (ev.signal ? `killed by ${ev.signal}` : `exited with code ${ev.code}`);
    if (ev.restartInMs === null) {
      log.info({ child: ev.name, pid: ev.pid }, 'child stopped');
    } else if (ev.asked) {
      log.info({ child: ev.name, pid: ev.pid, code: ev.code, signal: ev.signal }, 'child restarting (asked)');
      to.events.add('child', `${ev.name} restarted by the daemon`);
    } else {
      log.warn({ child: ev.name, pid: ev.pid, code: ev.code, signal: ev.signal, restartInMs: ev.restartInMs }, 'child exited');
      to.events.add('child', `${ev.name} ${how}; restarting in ${(ev.restartInMs / 1000).toFixed(1)} s`);
    }
  } else {
    to.health.raise({
      code: 'RN_CHILD_CRASH_LOOP',
      title: `${ev.name} keeps crashing`,
      severity: 'error',
      text: `${ev.name} failed ${ev.failures} times in a row; the daemon keeps restarting it with backoff. See the daemon log (journalctl -u resilnet) for its output.`,
    });
  }
}
