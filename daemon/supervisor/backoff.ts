// Restart policy, pure so it is tested as a table.

/** Cap of the restart delay. */
export const MAX_RESTART_DELAY_MS = 30_000;

/**
 * Delay before restarting a child that has failed `failures` times in a row
 * (1 = the exit that just happened was the first). The first restart is
 * immediate, so a crashed tunnel comes back at once; then 1 s, 2 s, 4 s … up to 30 s.
 */
export function nextRestartDelayMs(failures: number): number {
  if (!Number.isFinite(failures) || failures <= 1) return 0;
  const exp = Math.min(failures - 2, 30);
  return Math.min(MAX_RESTART_DELAY_MS, 1000 * 2 ** exp);
}
