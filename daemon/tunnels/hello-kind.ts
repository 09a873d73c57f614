// Which link hello a tunnel gets when one is due, pure. A signed peer-protocol hello
// costs both daemons a MAC, a scoped UDP send and receive, a decode and a replay
// check; a link beat is a bare, empty datagram that no process reads: the peer
// counts every packet its tunnel interface receives (only its openvpn, which
// authenticates the data channel, can put one there) as the link's life. Beats
// are sent only to a peer that said it counts them (`takesBeats` in its hellos),
// and only while the link is alive on our side: leaving `waiting` or `lost`, or
// telling the peer our timers run late, still takes a signed hello.

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
 * A signed hello came from the peer over the link: answer with one of ours now when the
 * peer may be waiting for it (it may have lost the link, and only a signed frame restores
 * it), unless ours went out lately: two hellos crossing do not answer each other.
 */
export function answersSignedHello(f: Pick<LinkHelloFacts, 'beats' | 'peerTakesBeats' | 'sinceSignedMs'>, helloIntervalMs: number): boolean {
  return f.beats && f.peerTakesBeats && f.sinceSignedMs >= 2 * helloIntervalMs;
}
