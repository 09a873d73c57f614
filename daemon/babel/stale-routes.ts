// The kernel routes a killed babeld leaves behind. babeld removes its routes when it
// exits cleanly; after a SIGKILL they stay (protocol "babel", metric 1024). The next
// babeld then gets EEXIST for every prefix it installs and takes that as success
// (babeld 1.12 route.c install_route), so it believes its own route is in the kernel
// while the dead one's is: when that one's tunnel goes, the prefix has no route at all
// and babeld never installs it again until its own choice changes (seen in a 16-node
// chaos run: two pairs unreachable for minutes with babel's table complete).
// So every babeld start begins from a table without babel routes.
import type { Logger } from 'pino';
import { runIp } from '../sys/interfaces.js';

export const FLUSH_BABEL_ROUTES_ARGV: readonly string[] = ['ip', '-6', 'route', 'flush', 'proto', 'babel'];

/**
 * babeld's launch waits for the flush (the supervisor shows it "starting"), not the event
 * loop. A slower `ip` is given up and babeld launched anyway, with a warning.
 */
const FLUSH_TIMEOUT_MS = 10_000;

/** The daemon's runner of `ip` (a fake in tests). */
export type RunIp = typeof runIp;

/** Removes every IPv6 route of protocol babel; resolves with what went wrong, or undefined. Never rejects. */
export async function flushStaleBabelRoutes(run: RunIp = runIp): Promise<string | undefined> {
  const r = await run([...FLUSH_BABEL_ROUTES_ARGV], { timeoutMs: FLUSH_TIMEOUT_MS });
  if (r.exitCode === 0) return undefined;
  const why = r.timedOut ? `no answer within ${FLUSH_TIMEOUT_MS / 1000} s` : r.stderr.trim() || `exit ${r.exitCode}`;
  return `${FLUSH_BABEL_ROUTES_ARGV.join(' ')} failed: ${why}`;
}

/** The BabelLink dep: the flush, a warning when it fails. */
export function staleBabelRoutesFlusher(log: Pick<Logger, 'warn'>, run: RunIp = runIp): () => Promise<void> {
  return async () => {
    const problem = await flushStaleBabelRoutes(run);
    if (problem) log.warn({ problem }, 'cannot remove the kernel routes of an earlier babeld; starting babeld anyway');
  };
}
