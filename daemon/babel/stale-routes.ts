// The kernel routes a killed babeld leaves behind. babeld removes its routes when it
// exits cleanly; after a SIGKILL they stay (protocol "babel", metric 1024). The next
// babeld then gets EEXIST for every prefix it installs and takes that as success
// (babeld 1.12 route.c install_route), so it believes its own route is in the kernel
// while the dead one's is: when that one's tunnel goes, the prefix has no route at all
// and babeld never installs it again until its own choice changes (seen in a 16-node
// chaos run: two pairs unreachable for minutes with babel's table complete).
// So every babeld start begins from a table without babel routes.
import { execFileSync } from 'node:child_process';
import type { Logger } from 'pino';

export const FLUSH_BABEL_ROUTES_ARGV: readonly string[] = ['ip', '-6', 'route', 'flush', 'proto', 'babel'];

/** Short: it runs synchronously, before the spawn; a slower `ip` is given up, not waited for. */
const FLUSH_TIMEOUT_MS = 5_000;

export type SyncExec = (file: string, args: readonly string[], options: { timeout: number; stdio: 'pipe' }) => unknown;

/** Removes every IPv6 route of protocol babel; returns what went wrong, or undefined. Never throws. */
export function flushStaleBabelRoutes(exec: SyncExec = execFileSync): string | undefined {
  const [file, ...args] = FLUSH_BABEL_ROUTES_ARGV as [string, ...string[]];
  try {
    exec(file, args, { timeout: FLUSH_TIMEOUT_MS, stdio: 'pipe' });
    return undefined;
  } catch (err) {
    const stderr = String((err as { stderr?: unknown }).stderr ?? '').trim();
    return `${FLUSH_BABEL_ROUTES_ARGV.join(' ')} failed: ${stderr || (err as Error).message}`;
  }
}

/** The BabelLink dep: the flush, a warning when it fails. */
export function staleBabelRoutesFlusher(log: Pick<Logger, 'warn'>, exec: SyncExec = execFileSync): () => void {
  return () => {
    const problem = flushStaleBabelRoutes(exec);
    if (problem) log.warn({ problem }, 'cannot remove the kernel routes of an earlier babeld');
  };
}
