// A link that carries our traffic is watched closely, pure. An idle link costs what its
// beats cost, and a cut there hurts nobody until traffic flows; a link carrying traffic
// should be routed around as soon as it goes silent. So while we send over a link
// (BUSY_MIN_PPS packets a second besides our beats, for a whole interval) we tell the
// peer once (a signed hello marked `busy`), it answers, and from then on it beats every
// fifth of an interval while our packets keep arriving; its silence is then a verdict
// after `misses` of those shorter intervals (0.2 s at the defaults), not after 1 s. The
// cost comes with the traffic and ends with it: nothing changes on an idle link.

/** Our packets a second over a link (besides our beats) that make it busy. */
export const BUSY_MIN_PPS = 8;
/** A busy link's interval is this fraction of the link hello interval. */
export const BUSY_DIVISOR = 5;
/**
 * Neither asked for nor granted on a host whose CPU pressure ("some avg10") is this high: there a
 * peer's beats can wait in starved openvpn ends longer than the short deadline, with no timer of
 * ours running late. An idle 32-node lab on 2 cores (pressure ~45 %) flapped links after 0.2 s.
 */
export const BUSY_MAX_PRESSURE_PCT = 25;
/** An unanswered `busy` hello is sent again after this many intervals. */
export const BUSY_RETELL_INTERVALS = 8;

/** Our side of a link as a sender. */
export interface BusyRun {
  /** Packets we sent (besides beats) since windowStartMs. */
  windowPackets: number;
  windowStartMs: number;
  /** When we last counted packets of ours (-Infinity: none in this run). */
  lastSentMs: number;
  /** Since when each window of an interval had our traffic (null: not busy). */
  sinceMs: number | null;
  /** When we told the peer (the timestamp of our `busy` hello; null: not told in this run). */
  toldMs: number | null;
  /** The peer answered our `busy` hello: it beats every busy interval while our packets arrive. */
  acked: boolean;
}

export function newBusyRun(nowMs: number): BusyRun {
  return { windowPackets: 0, windowStartMs: nowMs, lastSentMs: -Infinity, sinceMs: null, toldMs: null, acked: false };
}

/**
 * Counts `packets` we sent over the link (besides beats) by `nowMs`. Each interval-long
 * window is busy or not; the run lasts while every window is busy, and a quiet one ends it
 * (the peer must be told again next time), but only once the peer was heard after our
 * last packet (`lastHeardMs`): our packets count only when our openvpn end reads them, so a
 * frozen end stops our count just as the peer falls silent, and that silence is what the
 * close watch is for. After a real stop the peer goes on beating fast for two intervals, so
 * it is heard and the run ends.
 */
export function noteSent(run: BusyRun, nowMs: number, packets: number, intervalMs: number, lastHeardMs: number | null = null): BusyRun {
  const windowPackets = run.windowPackets + packets;
  const lastSentMs = packets > 0 ? nowMs : run.lastSentMs;
  const elapsedMs = nowMs - run.windowStartMs;
  if (elapsedMs < intervalMs) return { ...run, windowPackets, lastSentMs };
  const busy = (windowPackets * 1000) / elapsedMs >= BUSY_MIN_PPS;
  if (!busy && watchedClosely(run) && (lastHeardMs === null || lastHeardMs <= lastSentMs)) return { ...run, windowPackets: 0, windowStartMs: nowMs, lastSentMs };
  if (!busy) return newBusyRun(nowMs);
  return { ...run, windowPackets: 0, windowStartMs: nowMs, lastSentMs, sinceMs: run.sinceMs ?? run.windowStartMs };
}

/** The run has lasted a whole interval and the peer has not answered: tell it now (again BUSY_RETELL_INTERVALS after an unanswered `busy` hello: a peer under pressure does not answer). */
export function tellsPeer(run: BusyRun, nowMs: number, intervalMs: number): boolean {
  if (run.sinceMs === null || run.acked || nowMs - run.sinceMs < intervalMs) return false;
  return run.toldMs === null || nowMs - run.toldMs >= BUSY_RETELL_INTERVALS * intervalMs;
}

/** The peer beats to us every busy interval now: our verdict on its silence may come that much sooner. */
export function watchedClosely(run: BusyRun): boolean {
  return run.sinceMs !== null && run.acked;
}

/**
 * The receiving side: told `busy`, we beat every busy interval until the peer's traffic
 * stops arriving for two intervals (`heardTrafficAtMs`: our last count of its packets besides
 * beats; a beat is an empty datagram, BEAT_BYTES on the tunnel). Two, not one: the peer's
 * next interval-long window then hears us, and ends its close watch instead of holding it.
 */
export function beatsFast(toldAtMs: number | null, heardTrafficAtMs: number, nowMs: number, intervalMs: number): boolean {
  return toldAtMs !== null && nowMs - Math.max(toldAtMs, heardTrafficAtMs) < 2 * intervalMs;
}

/** An empty UDP datagram over IPv6 as a tunnel interface counts it: 40 bytes of header and 8 of UDP. */
export const BEAT_BYTES = 48;
