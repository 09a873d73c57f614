// When the node starts UPnP. Loading the UPnP client takes seconds of CPU on a busy
// machine, and blocks the event loop meanwhile: it starts once the first tunnels are
// up and none is still connecting (the start-up burst is over), and at the latest
// UPNP_START_LATEST_MS after the start.
import { TIMING } from '../settings.js';
import type { Clock } from '../sys/clock.js';

/** UPnP starts when the start-up burst is over, and no later than this after the start. */
export const UPNP_START_LATEST_MS = 15_000;

/** Pure: whether UPnP starts now, `waitedMs` after the node's start. */
export function upnpStartDue(tunnels: readonly { state: string }[], waitedMs: number): boolean {
  const settled = tunnels.some((t) => t.state === 'up') && tunnels.every((t) => t.state !== 'connecting');
  return (settled && waitedMs >= TIMING.upnpStartDelayMs) || waitedMs >= UPNP_START_LATEST_MS;
}

/** Checks every 500 ms from TIMING.upnpStartDelayMs on, then calls `start` once (never after `signal` aborted). */
export function startUpnpAfterBurst(d: { clock: Clock; signal: AbortSignal; tunnels: () => readonly { state: string }[]; start: () => void }): void {
  const startedAtMs = d.clock.nowMs();
  const check = (): void => {
    if (d.signal.aborted) return;
    if (upnpStartDue(d.tunnels(), d.clock.nowMs() - startedAtMs)) d.start();
    else d.clock.setTimeout(check, 500);
  };
  d.clock.setTimeout(check, TIMING.upnpStartDelayMs);
}
