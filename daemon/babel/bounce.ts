// Applies a cost babeld keeps for a live interface but has not applied yet
// (desired.ts `set`): the link goes down until babeld notices, then up again, and
// babeld reads the interface's configuration when it sees it come up. babeld
// 1.12.1 keeps the interface, its hello seqno and its neighbours through this,
// so the peer only sees our new cost in the next IHU (measured, docs/decisions.md
// D6); a flush instead restarts the interface and the peer drops the link.
// The kernel removes a link-local address when its link goes down, even with
// keep_addr_on_down, and babeld will not run an interface without one: the
// tunnel's own link-local address is added again before the link comes up (as
// the openvpn up script does), so babeld keeps its source and the peer its next
// hop. Routes babel installed through the link are taken
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
  /** The tunnel's link-local address (identity.ts linkLocalFor), without a length. */
  linkLocal: string;
  signal?: AbortSignal;
  /** How long to wait for each of babeld's sightings (down, then up). */
  timeoutMs: number;
  /** Pause between dumps while waiting. */
  pollMs?: number;
}

export type BounceResult = { ok: true; downMs: number; upSeen: boolean } | { ok: false; why: string };

const UP_TRIES = 3;

/** The argv lists of a bounce, in order (pure, for tests and logs). */
export function bounceCommands(ifName: string, linkLocal: string): { down: string[]; address: string[]; up: string[] } {
  return {
    down: ['ip', 'link', 'set', 'dev', ifName, 'down'],
    address: ['ip', '-6', 'addr', 'replace', `${linkLocal}/64`, 'dev', ifName],
    up: ['ip', 'link', 'set', 'dev', ifName, 'up'],
  };
}

/** Bounces `ifName` and reports whether babeld saw it go down (so it applies its stored configuration). */
export async function bounceLink(ifName: string, deps: BounceDeps, options: BounceOptions): Promise<BounceResult> {
  const cmds = bounceCommands(ifName, options.linkLocal);
  const runOpts = { timeoutMs: options.timeoutMs, ...(options.signal ? { signal: options.signal } : {}) };
  const down = await deps.run(cmds.down, runOpts);
  if (down.exitCode !== 0) return { ok: false, why: `cannot set ${ifName} down: ${down.stderr.trim() || `exit ${down.exitCode}`}` };
  const downAtMs = deps.clock.nowMs();
  const seenDown = await waitForBabel(ifName, false, deps, options);
  // Up again in any case, with its address: the tunnel must not stay down because babeld was slow.
  const address = await deps.run(cmds.address, runOpts);
  let upError = 'not tried';
  for (let i = 0; i < UP_TRIES && upError; i++) {
    const up = await deps.run(cmds.up, runOpts);
    upError = up.exitCode === 0 ? '' : up.stderr.trim() || `exit ${up.exitCode}`;
  }
  if (upError) return { ok: false, why: `cannot set ${ifName} up again: ${upError}` };
  if (address.exitCode !== 0) return { ok: false, why: `cannot give ${ifName} its link-local address again: ${address.stderr.trim() || `exit ${address.exitCode}`}` };
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
