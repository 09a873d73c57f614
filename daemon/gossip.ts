// Node-to-node upkeep over the peer protocol: hellos to the peers we have a
// tunnel with (RTT, liveness, config version), peer-list exchange (a node
// learns peers without the registry), and passing on the signed network config
// to neighbours that hold an older one. Acting on a received config is the
// caller's (it verifies and adopts).
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { addressInPrefix, nodeAddress, parseIpv6Address, parsePrefix } from '../config/ipv6.js';
import type { SignedNetworkConfig } from '../config/network-config.js';
import { packPeerList, type PeerListEntry, type PeerMessage } from '../wire/messages.js';
import type { PeerProtocol } from './peerproto/protocol.js';
import type { PeerDb } from './peers/peer-db.js';
import { every, type Periodic } from './every.js';
import type { Clock } from './sys/clock.js';
import { formatHostPort, parseHostPort } from './sys/host-port.js';

export interface GossipOptions {
  ownPrefix: string;
  networkPrefix: string;
  /** Peer-protocol port assumed for a peer whose port we do not know. */
  defaultPort: number;
  intervalMs: number;
  requestTimeoutMs: number;
  peerListCount: number;
}

export interface GossipDeps {
  clock: Clock;
  log: Logger;
  peerproto: Pick<PeerProtocol, 'on' | 'setHandler' | 'hello' | 'request' | 'sendNetworkConfig'>;
  peers: Pick<PeerDb, 'upsertPeer' | 'setRtt' | 'listPeers' | 'getPeer' | 'batch'>;
  /** Peers we have a tunnel with. */
  adjacentPeers: () => string[];
  config: () => { version: number; signed: SignedNetworkConfig };
  onNetworkConfig: (signed: SignedNetworkConfig, from: string) => Promise<void> | void;
  rand: () => number;
}

export class Gossip {
  /** Addresses left out of peer lists because no peer could use them (zone IDs, loopback, …). */
  skippedAddresses = 0;
  private abort: AbortController | undefined;
  private periodic: Periodic | undefined;
  private readonly unsubscribe: Array<() => unknown> = [];
  private readonly network;

  constructor(
    private readonly options: GossipOptions,
    private readonly deps: GossipDeps,
  ) {
    this.network = parsePrefix(options.networkPrefix);
  }

  start(): void {
    this.abort = new AbortController();
    const { peerproto } = this.deps;
    this.unsubscribe.push(
      peerproto.on('hello', (ev) => {
        // Link hellos (tunnels/link-monitor.ts) come several times a second over each tunnel's link-local address.
        if (ev.from.host.includes('%')) return;
        this.learn(ev.from.prefix, formatHostPort(ev.from.host, ev.from.port), ev.from.serial);
        if (ev.rttMs !== undefined) this.deps.peers.setRtt(ev.from.prefix, ev.rttMs, this.deps.clock.nowMs());
        const theirs = ev.msg.configVersion;
        if (theirs !== undefined && theirs < this.deps.config().version) void this.sendConfig(ev.from.prefix, { host: ev.from.host, port: ev.from.port });
      }),
    );
    this.unsubscribe.push(
      peerproto.on('network-config', (ev) => {
        let signed: SignedNetworkConfig;
        try {
          signed = JSON.parse(ev.bytes.toString('utf8')) as SignedNetworkConfig;
        } catch (err) {
          this.deps.log.warn({ err, peer: ev.from.prefix }, 'network config from peer is not JSON; ignored');
          return;
        }
        return this.deps.onNetworkConfig(signed, ev.from.prefix);
      }),
    );
    peerproto.setHandler('peer-list', (ev) => {
      this.learnEntries(ev.msg.entries);
      if (!ev.msg.requestCount) return undefined;
      return { kind: 'peer-list', entries: this.ourEntries(ev.msg.requestCount, ev.from.prefix) } satisfies PeerMessage;
    });
    this.periodic = every(this.options.intervalMs, 'gossip', (signal) => this.round(signal), {
      clock: this.deps.clock,
      log: this.deps.log,
      signal: this.abort.signal,
      timeoutMs: Math.max(this.options.intervalMs, 10_000),
      firstDelayMs: 2_000,
    });
  }

  async stop(): Promise<void> {
    this.abort?.abort(new Error('daemon stopping'));
    for (const u of this.unsubscribe.splice(0)) u();
    await this.periodic?.idle();
  }

  /** Runs a round soon (e.g. a tunnel just came up). */
  trigger(): void {
    this.periodic?.trigger();
  }

  /** Sends our config to every adjacent peer (after adopting a newer one). */
  async spreadConfig(except?: string): Promise<void> {
    await Promise.all(this.deps.adjacentPeers().filter((p) => p !== except).map((p) => this.sendConfig(p)));
  }

  private async round(signal: AbortSignal): Promise<void> {
    const adjacent = this.deps.adjacentPeers();
    await Promise.all(
      adjacent.map(async (peer) => {
        const to = this.overlayAddress(peer);
        try {
          const { rttMs } = await this.deps.peerproto.hello(to, { timeoutMs: this.options.requestTimeoutMs, signal });
          this.deps.peers.setRtt(peer, rttMs, this.deps.clock.nowMs());
        } catch (err) {
          this.deps.log.debug({ err, peer }, 'hello unanswered');
        }
      }),
    );
    if (adjacent.length === 0) return;
    const peer = adjacent[Math.min(adjacent.length - 1, Math.floor(this.deps.rand() * adjacent.length))]!;
    try {
      const reply = await this.deps.peerproto.request(
        this.overlayAddress(peer),
        { kind: 'peer-list', entries: this.ourEntries(this.options.peerListCount, peer), requestCount: this.options.peerListCount },
        { timeoutMs: this.options.requestTimeoutMs, signal },
      );
      if (reply.msg.kind === 'peer-list') this.learnEntries(reply.msg.entries);
    } catch (err) {
      this.deps.log.debug({ err, peer }, 'peer-list exchange failed');
    }
  }

  /** Adjacent peers are reached over the overlay (PREFIX::1), which also works through NAT. */
  private overlayAddress(peer: string): { host: string; port: number; prefix: string } {
    const known = this.deps.peers.getPeer(peer)?.addresses.map(parseHostPort).find((a) => a !== undefined);
    return { host: nodeAddress(parsePrefix(peer)), port: known?.port ?? this.options.defaultPort, prefix: peer };
  }

  private async sendConfig(peer: string, to?: { host: string; port: number }): Promise<void> {
    const held = this.deps.config();
    const bytes = Buffer.from(JSON.stringify(held.signed), 'utf8');
    try {
      await this.deps.peerproto.sendNetworkConfig({ ...(to ?? this.overlayAddress(peer)), prefix: peer }, held.version, bytes);
      this.deps.log.debug({ peer, version: held.version }, 'network config sent');
    } catch (err) {
      this.deps.log.debug({ err, peer }, 'network config not sent');
    }
  }

  private ourEntries(count: number, to: string): PeerListEntry[] {
    const entries = this.deps.peers
      .listPeers({ dead: false })
      .filter((p) => p.prefix !== to && p.addresses.length > 0)
      .sort((a, b) => b.lastSeenMs - a.lastSeenMs)
      .slice(0, count)
      .map((p) => ({ prefix: p.prefix, addresses: p.addresses.slice(0, 4) }));
    // One datagram's worth.
    return packPeerList(entries, (prefix, address) => {
      this.skippedAddresses++;
      this.deps.log.debug({ prefix, address }, 'peer-list address skipped: no peer can use it');
    })[0] ?? [];
  }

  /** A peer list's entries, in one write to the peer DB. */
  private learnEntries(entries: readonly PeerListEntry[]): void {
    try {
      this.deps.peers.batch(() => {
        for (const e of entries) this.learnEntry(e);
      });
    } catch (err) {
      this.deps.log.warn({ err }, 'peer list not stored');
    }
  }

  private learnEntry(e: PeerListEntry): void {
    if (e.prefix === this.options.ownPrefix) return;
    const heard = e.addresses.filter((a) => this.isUnderlay(a));
    const known = this.deps.peers.getPeer(e.prefix);
    if (heard.length === 0 && !known) return;
    // Second-hand: what we know (from the peer itself, or the registry) stays first.
    const addresses = heard.length ? [...new Set([...(known?.addresses ?? []), ...heard])].slice(0, 8) : [];
    try {
      this.deps.peers.upsertPeer({ prefix: e.prefix, addresses, source: 'peer' }, this.deps.clock.nowMs());
    } catch (err) {
      this.deps.log.debug({ err, peer: e.prefix }, 'peer-list entry ignored');
    }
  }

  private learn(prefix: string, address: string, serial: string): void {
    if (prefix === this.options.ownPrefix) return;
    // The address its hello came from first, then what it announced (kept, not replaced).
    const known = this.deps.peers.getPeer(prefix)?.addresses ?? [];
    const addresses = this.isUnderlay(address) ? [...new Set([address, ...known])].slice(0, 8) : [];
    try {
      this.deps.peers.upsertPeer({ prefix, addresses, source: 'peer', certSerial: serial }, this.deps.clock.nowMs());
    } catch (err) {
      this.deps.log.debug({ err, peer: prefix }, 'peer not recorded');
    }
  }

  /** Overlay addresses are no use for building tunnels (that would be recursive). */
  private isUnderlay(address: string): boolean {
    const hp = parseHostPort(address);
    if (!hp) return false;
    if (isIP(hp.host) !== 6) return true;
    try {
      return !addressInPrefix(this.network, parseIpv6Address(hp.host));
    } catch {
      return false;
    }
  }
}
