// The node's changes to the host outside its tunnels: forwarding and its address on lo
// at start; at stop, those and every tunnel interface left behind are removed.
import type { Logger } from 'pino';
import { applyCommands, planNodeSetup, planNodeTeardown, planTunnelTeardown, type ApplyOptions, type NodeNetSpec } from '../sys/interfaces.js';

/**
 * Runs the setup commands; a command that timed out is retried (logged). Never rejects:
 * resolves with the error of a failed setup, for the start to throw once it waits for it.
 */
export function startHostSetup(spec: NodeNetSpec, d: { signal: AbortSignal; log: Pick<Logger, 'warn'>; run?: ApplyOptions['run'] }): Promise<{ err: unknown } | undefined> {
  return applyCommands(planNodeSetup(spec), {
    ...(d.run ? { run: d.run } : {}),
    retry: { signal: d.signal, onRetry: (r, attempt, delayMs) => d.log.warn({ argv: r.argv, attempt, delayMs }, 'network setup command timed out; retrying') },
  }).then(() => undefined, (err: unknown) => ({ err }));
}

/** Best effort: runs every teardown command and logs the ones that failed. */
export async function tearDownHost(spec: NodeNetSpec, tunnelIfNames: readonly string[], d: { log: Pick<Logger, 'warn'>; run?: ApplyOptions['run'] }): Promise<void> {
  const commands = [...tunnelIfNames.flatMap(planTunnelTeardown), ...planNodeTeardown(spec)];
  const failures = await applyCommands(commands, { bestEffort: true, ...(d.run ? { run: d.run } : {}) });
  for (const f of failures) d.log.warn({ argv: f.argv, stderr: f.stderr.trim() }, 'teardown command failed');
}
