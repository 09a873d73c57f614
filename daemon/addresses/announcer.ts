// Address announcements over the peer protocol: keeps this node's current
// underlay addresses (interfaces, underlay.addresses, the UPnP mapping, what
// the registry saw), announces them to adjacent peers over each tunnel's
// link-local address (no routing needed), and records what peers announce in
// the peer DB. The decisions are the pure functions in addresses.ts.
import type { Logger } from 'pino';
import type { AddressesMessage } from '../../wire/messages.js';
import { linkLocalFor } from '../identity.js';
import type { Incoming, PeerAddress } from '../peerproto/protocol.js';
import type { PeerRecord } from '../peers/peer-db.js';
import type { Clock } from '../sys/clock.js';
import { formatHostPort } from '../sys/host-port.js';
import {
  buildAddressEntries,
  inCidr,
  isDialable,
  localUnderlayAddresses,
  orderAnnounced,
  orderForDial,
  toAnnouncement,
  toHeartbeatAddresses,
  type AddressEntry,
  type InterfaceSnapshot,
  type LocalAddress,
} from './addresses.js';

export interface UpnpExternal {
  ip: string;
  mappings: readonly { internalPort: number; externalPort: number }[];
}

export interface AddressAnnouncerOptions {
  ownPrefix: string;
  networkPrefix: string;
  /** How often new neighbours get our addresses. */
  checkIntervalMs: number;
  /**
   * How often the interfaces are re-read (default 30 s). os.networkInterfaces() is a
   * synchronous netlink dump under the kernel's RTNL lock: with many namespaces busy it
   * blocks the event loop for tens of ms, so it is not done at every check.
   */
  interfaceReadMs?: number;
  /** Every adjacent peer hears our addresses again this often. */
  reannounceIntervalMs: number;
}

export interface AddressAnnouncerDeps {
  clock: Clock;
  log: Pick<Logger, 'debug' | 'info' | 'warn'>;
  peerproto: {
    send(to: PeerAddress, msg: AddressesMessage): Promise<void>;
    on(event: 'addresses', listener: (ev: Incoming<AddressesMessage>) => unknown): () => void;
  };
  peers: {
    getPeer(prefix: string): Pick<PeerRecord, 'addresses'> | undefined;
    upsertPeer(report: { prefix: string; addresses: string[]; source: 'peer'; certSerial?: string }, nowMs: number): unknown;
  };
  /** os.networkInterfaces(). */
  readInterfaces: () => InterfaceSnapshot;
  /** Read at each check, so a reload applies. */
  settings: () => { port: number; configured: readonly string[] };
  /** Peers we have a working tunnel with, and its interface. */
  adjacent: () => readonly { peer: string; ifName: string }[];
  /** The peer's peer-protocol port. */
  peerPort: (peer: string) => number;
  /** Our addresses changed (e.g. send a heartbeat now). */
  onChange?: () => void;
}

export interface AddressStatus {
  addresses: AddressEntry[];
  upnp: { externalIp: string; ports: number[] } | null;
  seenAddress: string | null;
}

export class AddressAnnouncer {
  private upnp: UpnpExternal | undefined;
  private seenIp: string | undefined;
  private entries: AddressEntry[] = [];
  private local: LocalAddress[] = [];
  private snapshot: InterfaceSnapshot = {};
  private key = '';
  /** When each adjacent peer last heard our addresses (and the interface it was sent on). */
  private readonly announced = new Map<string, { atMs: number; ifName: string; key: string }>();
  private cancelTimer: (() => void) | undefined;
  private unsubscribe: (() => unknown) | undefined;
  private running = false;
  private readAtMs = -Infinity;

  constructor(
    private readonly options: AddressAnnouncerOptions,
    private readonly deps: AddressAnnouncerDeps,
  ) {}

  start(): void {
    this.running = true;
    this.unsubscribe = this.deps.peerproto.on('addresses', (ev) => this.onAddresses(ev));
    this.refresh();
    this.schedule(this.options.checkIntervalMs);
  }

  stop(): void {
    this.running = false;
    this.cancelTimer?.();
    this.unsubscribe?.();
  }

  /** The UPnP gateway's external address and mapped ports (undefined: none). */
  setUpnp(external: UpnpExternal | undefined): void {
    this.upnp = external;
    this.refresh();
  }

  /** The address the registry saw our heartbeat come from. */
  setSeenAddress(ip: string): void {
    if (ip === this.seenIp) return;
    this.seenIp = ip;
    this.refresh();
  }

  current(): AddressEntry[] {
    return this.entries;
  }

  heartbeatAddresses(): ReturnType<typeof toHeartbeatAddresses> {
    return toHeartbeatAddresses(this.entries);
  }

  /**
   * The host's interfaces as last read (at most interfaceReadMs ago; now if check() was
   * called): other parts use this reading instead of a netlink dump of their own.
   */
  interfaces(): InterfaceSnapshot {
    return this.snapshot;
  }

  /** Our interface addresses (for the dial order). */
  localAddresses(): LocalAddress[] {
    return this.local;
  }

  /** Whether a host lies on the subnet of one of our interfaces (a LAN we share with it). */
  onLocalSubnet(host: string): boolean {
    return this.local.some((l) => l.cidr !== null && inCidr(host, l.cidr));
  }

  /** A peer's addresses in the order to try them. */
  dialOrder(addresses: readonly string[]): string[] {
    return orderForDial(addresses, this.local);
  }

  status(): AddressStatus {
    return {
      addresses: this.entries,
      upnp: this.upnp ? { externalIp: this.upnp.ip, ports: this.upnp.mappings.map((m) => m.externalPort) } : null,
      seenAddress: this.seenIp ?? null,
    };
  }

  /** Re-reads the interfaces and announces to whoever has not heard the current set. */
  check(): void {
    this.refresh();
  }

  private schedule(ms: number): void {
    if (!this.running) return;
    this.cancelTimer = this.deps.clock.setTimeout(() => {
      try {
        if (this.deps.clock.nowMs() - this.readAtMs >= (this.options.interfaceReadMs ?? 30_000)) this.refresh();
        else this.announceDue();
      } catch (err) {
        this.deps.log.warn({ err }, 'address check failed');
      }
      this.schedule(this.options.checkIntervalMs);
    }, ms);
  }

  private refresh(): void {
    let ifaces: InterfaceSnapshot = {};
    this.readAtMs = this.deps.clock.nowMs();
    try {
      ifaces = this.deps.readInterfaces();
    } catch (err) {
      this.deps.log.warn({ err }, 'cannot read the interface addresses');
    }
    const { port, configured } = this.deps.settings();
    this.snapshot = ifaces;
    this.local = localUnderlayAddresses(ifaces, this.options.networkPrefix);
    this.entries = buildAddressEntries({ interfaces: this.local, port, configured, upnp: this.upnp, seenIp: this.seenIp });
    const key = this.entries.map((e) => `${e.kind} ${e.address}`).join(',');
    if (key !== this.key) {
      const first = this.key === '';
      this.key = key;
      this.deps.log.info({ addresses: this.entries }, 'underlay addresses');
      if (!first) this.deps.onChange?.();
    }
    if (this.running) this.announceDue();
  }

  private announceDue(): void {
    const nowMs = this.deps.clock.nowMs();
    const adjacent = this.deps.adjacent();
    const live = new Set(adjacent.map((a) => a.peer));
    for (const peer of this.announced.keys()) if (!live.has(peer)) this.announced.delete(peer);
    for (const { peer, ifName } of adjacent) {
      const last = this.announced.get(peer);
      const due = !last || last.key !== this.key || last.ifName !== ifName || nowMs - last.atMs >= this.options.reannounceIntervalMs;
      if (!due) continue;
      this.announced.set(peer, { atMs: nowMs, ifName, key: this.key });
      // The first time we ask for theirs too: both sides learn each other's addresses.
      this.sendTo({ host: `${linkLocalFor(peer)}%${ifName}`, port: this.deps.peerPort(peer), prefix: peer }, !last);
    }
  }

  private sendTo(to: PeerAddress, wantReply: boolean): void {
    if (this.entries.length === 0) return;
    this.deps.peerproto.send(to, toAnnouncement(this.entries, wantReply)).catch((err: unknown) => {
      this.deps.log.debug({ err, peer: to.prefix }, 'address announcement not sent');
      // Try again at the next check (e.g. the tunnel's interface was being re-created).
      if (to.prefix) this.announced.delete(to.prefix);
    });
  }

  private onAddresses(ev: Incoming<AddressesMessage>): void {
    const peer = ev.from.prefix;
    if (peer === this.options.ownPrefix) return;
    const observedText = formatHostPort(ev.from.host, ev.from.port);
    const observed = isDialable(observedText, this.options.networkPrefix) ? observedText : undefined;
    const addresses = orderAnnounced(ev.msg, this.options.networkPrefix, observed);
    if (addresses.length > 0) {
      try {
        this.deps.peers.upsertPeer({ prefix: peer, addresses, source: 'peer', certSerial: ev.from.serial }, this.deps.clock.nowMs());
        this.deps.log.debug({ peer, addresses }, 'peer addresses announced');
      } catch (err) {
        this.deps.log.warn({ err, peer }, 'cannot record announced addresses');
      }
    }
    if (ev.msg.wantReply) this.sendTo({ host: ev.from.host, port: ev.from.port, prefix: peer }, false);
  }
}
