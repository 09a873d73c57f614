// Which link hello a tunnel gets when one is due, pure. A signed peer-protocol hello
// costs both daemons a MAC, a scoped UDP send and receive, a decode and a replay
// check; a link beat is a bare, empty datagram that no process reads: the peer
// counts every packet its tunnel interface receives (only its openvpn, which
// authenticates the data channel, can put one there) as the link's life. Beats
// are sent only to a peer that said it counts them (`takesBeats` in its hellos),
// and only while the link is alive on our side: leaving `waiting` or `lost`, or
// telling the peer our timers run late, still takes a signed hello. A peer that
// probes before its verdict (`probes` in its hellos: signed hellos marked `probe`,
// answered at once, while a beat is missing) gets a beat every other interval: the
// beats are most of what link liveness costs both daemons and all four openvpn ends.

/** A signed hello goes out at least this often on a beating link: the peer keeps our certificate, port and flag fresh. */
export const SIGNED_HELLO_EVERY_MS = 10_000;

export type LinkHelloKind = 'hello' | 'beat' | 'none';

export interface LinkHelloFacts {
  /** This host can send beats and read its interfaces' counters. */
  beats: boolean;
  /** The peer's hellos said it counts packets over the tunnel as life. */
  peerTakesBeats: boolean;
  /** Our verdict on the link. */
  phase: 'waiting' | 'alive' | 'lost';
  /** Our timers ran later lately than our last signed hello told the peer (beyond jitter): it must hear it (hello `lateMs`). */
  reportLate: boolean;
  /** Time since our last signed hello on this link (Infinity: none yet). */
  sinceSignedMs: number;
  /** Something else left on the tunnel since the last check (babel, traffic): the peer heard from us anyway. */
  otherTraffic: boolean;
}

export function linkHelloKind(f: LinkHelloFacts): LinkHelloKind {
  if (!f.beats || !f.peerTakesBeats || f.phase !== 'alive' || f.reportLate || f.sinceSignedMs >= SIGNED_HELLO_EVERY_MS) return 'hello';
  return f.otherTraffic ? 'none' : 'beat';
}

/**
 * How long after this round our next link hello on the link is due (`everyMs`: its
 * cadence now, helloEveryMs): twice the interval after a beat to a peer that probes
 * before its verdict while both ends run on time, else `everyMs`. Not after other
 * traffic of ours instead of a beat: it may have left early in the round, and two
 * intervals from now would leave the peer a longer gap than one missed beat. Not while
 * either end runs late (the cadence stretched): packets then wait in starved openvpn
 * ends too, and the probe's answer would cross them late; every beat counts then.
 * A peer that judges idle links by a longer deadline (`peerIdlePace`, its hellos' `idlePace`)
 * gets those beats that many times less often: the caller passes it only while the peer
 * does not watch the link closely (we do not beat fast to it). While an end runs late, every
 * paced interval (or the stretched cadence, when longer): four beats a deadline, as every beat
 * at the short deadline gave (a 32-node lab on 2 cores runs late often enough that the
 * stretched cadence alone kept two beats a second on most links).
 */
export function nextHelloAfterMs(kind: LinkHelloKind, everyMs: number, intervalMs: number, peerProbes: boolean, peerIdlePace = 1): number {
  if (kind !== 'beat' || !peerProbes) return everyMs;
  const pace = Math.max(1, peerIdlePace);
  if (everyMs <= intervalMs) return 2 * intervalMs * pace;
  return Math.max(everyMs, intervalMs * pace);
}

/**
 * A signed hello came from the peer over the link: answer with one of ours now when the
 * peer may be waiting for it (it may have lost the link, and only a signed frame restores
 * it), unless ours went out lately: two hellos crossing do not answer each other. A probe
 * (`probe`: the link is silent on the peer's side, its verdict is near) is answered unless
 * we answered within an eighth of an interval: the peer's probes come a quarter interval
 * apart, and each must draw its own answer, since the one before may have been lost.
 */
export function answersSignedHello(f: Pick<LinkHelloFacts, 'beats' | 'peerTakesBeats' | 'sinceSignedMs'> & { probe?: boolean }, helloIntervalMs: number): boolean {
  if (f.probe) return f.sinceSignedMs >= helloIntervalMs / 8;
  return f.beats && f.peerTakesBeats && f.sinceSignedMs >= 2 * helloIntervalMs;
}
