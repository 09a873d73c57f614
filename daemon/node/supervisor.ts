// The node's supervisor (babeld, openvpn). Children an earlier run left behind (after
// kill -9) are stopped before it exists, so nothing is spawned next to them; its events
// and the children's output go to the log.
import type { Logger } from 'pino';
import type { EventLog } from '../events.js';
import type { HealthRegistry } from '../health/health.js';
import { logChildOutput } from '../supervisor/child-log.js';
import { cleanStaleChildren, Supervisor } from '../supervisor/index.js';
import type { Clock } from '../sys/clock.js';
import type { Spawner } from '../sys/spawner.js';
import type { ComponentLogs } from './component-logs.js';
import { reportSupervisorEvent } from './supervisor-events.js';

export async function startNodeSupervisor(runDir: string, d: { clock: Clock; spawner: Spawner; logs: ComponentLogs; events: EventLog; health: HealthRegistry }): Promise<Supervisor> {
  const { clock, logs } = d;
  const stale = await cleanStaleChildren(runDir, { clock });
  if (stale.stopped.length) logs.root.warn({ children: stale.stopped.map((c) => c.name) }, 'stopped children of an earlier run');
  const supervisor = new Supervisor({ spawner: d.spawner, clock, runDir });
  supervisor.on((ev) => reportSupervisorEvent(ev, { log: logs.for('supervisor'), events: d.events, health: d.health }));
  logChildOutput(supervisor, logs.for('children'));
  return supervisor;
}
