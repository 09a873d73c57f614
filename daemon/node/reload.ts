// `resilnet reload` / SIGHUP on a running node: resilnet.toml read again and each
// changed slice pushed to its part (NodeSettings), the outcome counted, logged and an event.
import type { Logger } from 'pino';
import { ResilnetError } from '../../config/errors.js';
import type { ReloadReport } from '../control/protocol.js';
import type { EventLog } from '../events.js';
import { reportSummary } from '../reload.js';
import type { RunningParts, StartProgress } from './parts.js';

export async function reloadNode(p: RunningParts, progress: StartProgress, d: { events: Pick<EventLog, 'add'>; log: Pick<Logger, 'info'> }): Promise<ReloadReport> {
  if (!p.settings) throw new ResilnetError('RN_DAEMON_NOT_READY', 'the daemon is still starting. Try again in a moment.');
  const report = await p.settings.reload(() => p.network!.held!.config).catch(async (err: unknown) => {
    (await progress.metrics)?.reloaded('refused');
    throw err;
  });
  (await progress.metrics)?.reloaded(report.failed.length ? 'failed' : 'applied');
  d.events.add('reload', `reload: ${reportSummary(report)}`);
  d.log.info({ applied: report.applied.map((i) => i.key), pending: report.pending, skipped: report.skipped.map((i) => i.key), failed: report.failed }, 'reloaded');
  return report;
}
