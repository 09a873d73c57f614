// Which addresses each peer has proved it answers at: an endpoint is confirmed
// by an authenticated round trip from it (a reply to a request or challenge we
// sent to exactly that host and port). A hello can be captured and sent again
// from anywhere within the replay window, so until then the endpoint gets no
// more bytes than it sent and is not announced as the peer's (protocol.ts).
// Bounded per peer and in peers; the least recently confirmed go first.
import { canonicalAddress } from '../../config/ipv6.js';

export class ConfirmedEndpoints {
  private readonly byPeer = new Map<string, Set<string>>();

  constructor(private readonly options: { maxPeers: number; maxPerPeer: number }) {}

  has(prefix: string, endpoint: string): boolean {
    return this.byPeer.get(prefix)?.has(endpoint) ?? false;
  }

  confirm(prefix: string, endpoint: string): void {
    let set = this.byPeer.get(prefix);
    if (set === undefined) {
      if (this.byPeer.size >= this.options.maxPeers) {
        const oldest = this.byPeer.keys().next().value;
        if (oldest !== undefined) this.byPeer.delete(oldest);
      }
      set = new Set();
    }
    this.byPeer.delete(prefix);
    this.byPeer.set(prefix, set);
    set.delete(endpoint);
    if (set.size >= this.options.maxPerPeer) {
      const oldest = set.values().next().value;
      if (oldest !== undefined) set.delete(oldest);
    }
    set.add(endpoint);
  }

  forget(prefix: string): void {
    this.byPeer.delete(prefix);
  }

  get size(): number {
    return this.byPeer.size;
  }
}

/** One text per endpoint however the address was written ("FD00:0::1" = "fd00::1"; a zone stays). */
export function endpointKey(e: { host: string; port: number }): string {
  if (!e.host.includes(':')) return `${e.host} ${e.port}`;
  const zone = e.host.indexOf('%');
  const address = zone < 0 ? e.host : e.host.slice(0, zone);
  let canonical: string;
  try {
    canonical = canonicalAddress(address);
  } catch {
    canonical = address.toLowerCase();
  }
  return `${canonical}${zone < 0 ? '' : e.host.slice(zone)} ${e.port}`;
}
