// Which external port to ask the gateway for (pure). First the internal port
// itself (peers can guess it); after a conflict (UPnP 718/729: another host
// holds it) a different one each time, never one the gateway already refused:
// the internal port shifted by whole steps of PORT_STEP, wrapped into the
// unprivileged range. Deterministic, so two nodes behind one router that clash
// once move apart on the next step instead of retrying the same port.

export const PORT_STEP = 10_007;
const LOW = 1024;
const HIGH = 65535;
const SPAN = HIGH - LOW + 1;

/** The external port for the next attempt, or undefined when every candidate was refused. */
export function pickExternalPort(internalPort: number, refused: ReadonlySet<number>): number | undefined {
  if (!refused.has(internalPort)) return internalPort;
  const base = Math.min(Math.max(internalPort, LOW), HIGH) - LOW;
  for (let k = 1; k < SPAN; k++) {
    const port = LOW + ((base + k * PORT_STEP) % SPAN);
    if (!refused.has(port)) return port;
  }
  return undefined;
}
