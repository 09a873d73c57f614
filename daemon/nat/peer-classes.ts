// Peers' NAT classes as this node knows them, from two sources: the peer
// itself (its punch messages) and the registry (a bootstrap answer, over TLS:
// the class the peer reported in its last heartbeat). Each statement is
// dated (the peer's: when it reached us; the registry's: the peer's last
// heartbeat, `last_seen`) and the newer one holds, so the registry's copy does
// not override what the peer told us itself since. With a class known,
// `pairing()` (punch.ts) picks direct, punch or impossible from the first
// attempt instead of after a failed one.
import type { NatClass } from './classify.js';

interface Statement {
  readonly natClass: NatClass;
  /** When the class was stated (our clock for the peer's word, the registry's for its copy). */
  readonly atMs: number;
}

export class PeerNatClasses {
  private readonly known = new Map<string, Statement>();

  /** The class as last stated; undefined when nobody said or the last word was 'unknown'. */
  get(peer: string): NatClass | undefined {
    const c = this.known.get(peer)?.natClass;
    return c === 'unknown' ? undefined : c;
  }

  /** The peer said it itself, now: always taken ('unknown' too: it forgets what we had). */
  fromPeer(peer: string, natClass: NatClass, nowMs: number): void {
    this.known.set(peer, { natClass, atMs: nowMs });
  }

  /**
   * The registry says the peer reported `natClass` in its heartbeat at `reportedAtMs`
   * (undefined: it did not say, which changes nothing). Taken unless the peer itself
   * told us later. Both times are wall-clock times of different hosts: a skew between
   * them only moves which statement is taken as the newer one.
   */
  fromRegistry(peer: string, natClass: NatClass | undefined, reportedAtMs: number): void {
    if (natClass === undefined || !Number.isFinite(reportedAtMs)) return;
    const had = this.known.get(peer);
    if (had && had.atMs > reportedAtMs) return;
    this.known.set(peer, { natClass, atMs: reportedAtMs });
  }
}
