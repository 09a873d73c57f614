// Applies a cost babeld keeps for a live interface but has not applied yet
// (desired.ts `set`): the link goes down until babeld notices, then up again, and
// babeld reads the interface's configuration when it sees it come up. babeld
// 1.12.1 keeps the interface, its hello seqno and its neighbours through this,
// so the peer only sees our new cost in the next IHU (measured, docs/decisions.md
// D6); a flush instead restarts the interface and the peer drops the link.
// The addresses stay (keep_addr_on_down), so babeld keeps its link-local source
// and the peer its next hop. Routes babel installed through the link are taken
// away by the kernel and by babeld while it is down: only do this to a link that
// carries nothing babel cannot route around at once (a drain's first step covers
// its own traffic with detours first).
import type { Clock } from '../sys/clock.js';

export interface BounceDeps {
  clock: Clock;
  /**
   * Whether babeld reports the interface up (undefined: it does not list it), from its monitor:
   * no request per look, so the link stays down only as long as babeld takes to notice.
   */
  babelSeesUp(ifName: string): boolean | undefined;
  /** Runs one ip or sysctl command (daemon/sys/interfaces.ts runIp); never throws. */
  run(argv: string[], options: { signal?: AbortSignal; timeoutMs?: number }): Promise<{ exitCode: number; stderr: string }>;
}

export interface BounceOptions {
  signal?: AbortSignal;
  /** How long to wait for each of babeld's sightings (down, then up). */
  timeoutMs: number;
  /** Pause between dumps while waiting. */
  pollMs?: number;
}

export type BounceResult = { ok: true; downMs: number; upSeen: boolean } | { ok: false; why: string };

const UP_TRIES = 3;

/** The argv lists of a bounce, in order (pure, for tests and logs). */
export function bounceCommands(ifName: string): { keepAddresses: string[]; down: string[]; up: string[] } {
  return {
    keepAddresses: ['sysctl', '-qw', `net.ipv6.conf.${ifName}.keep_addr_on_down=1`],
    down: ['ip', 'link', 'set', 'dev', ifName, 'down'],
    up: ['ip', 'link', 'set', 'dev', ifName, 'up'],
  };
}

/** Bounces `ifName` and reports whether babeld saw it go down (so it applies its stored configuration). */
export async function bounceLink(ifName: string, deps: BounceDeps, options: BounceOptions): Promise<BounceResult> {
  const cmds = bounceCommands(ifName);
  const runOpts = { timeoutMs: options.timeoutMs, ...(options.signal ? { signal: options.signal } : {}) };
  const keep = await deps.run(cmds.keepAddresses, runOpts);
  if (keep.exitCode !== 0) return { ok: false, why: `cannot keep the addresses of ${ifName} over a bounce: ${keep.stderr.trim() || `exit ${keep.exitCode}`}` };
  const down = await deps.run(cmds.down, runOpts);
  if (down.exitCode !== 0) return { ok: false, why: `cannot set ${ifName} down: ${down.stderr.trim() || `exit ${down.exitCode}`}` };
  const downAtMs = deps.clock.nowMs();
  const seenDown = await waitForBabel(ifName, false, deps, options);
  // Up again in any case: the tunnel must not stay down because babeld was slow.
  let upError = '';
  for (let i = 0; i < UP_TRIES; i++) {
    const up = await deps.run(cmds.up, runOpts);
    if (up.exitCode === 0) {
      upError = '';
      break;
    }
    upError = up.stderr.trim() || `exit ${up.exitCode}`;
  }
  if (upError) return { ok: false, why: `cannot set ${ifName} up again: ${upError}` };
  const downMs = deps.clock.nowMs() - downAtMs;
  if (!seenDown) return { ok: false, why: `babeld did not notice ${ifName} go down within ${options.timeoutMs} ms` };
  // babeld may take a periodic check to bring it up (it needs the link-local address back): not an error.
  const upSeen = await waitForBabel(ifName, true, deps, options);
  return { ok: true, downMs, upSeen };
}

/** Waits until babeld reports `ifName` up (or down); false after the timeout. */
async function waitForBabel(ifName: string, up: boolean, deps: BounceDeps, options: BounceOptions): Promise<boolean> {
  const deadlineMs = deps.clock.nowMs() + options.timeoutMs;
  const pollMs = options.pollMs ?? 10;
  while (!options.signal?.aborted) {
    if (deps.babelSeesUp(ifName) === up) return true;
    if (deps.clock.nowMs() >= deadlineMs) return false;
    await deps.clock.sleep(pollMs, options.signal ? { signal: options.signal } : {}).catch(() => undefined);
  }
  return false;
}
