// The network config the node runs with: obtained at start (peer DB cache, the
// file `register` wrote, then the registry until it answers), replaced only by
// a verified newer version from the registry or a peer, and its revocations
// enforced (the CRL file openvpn reads, peers marked dead, their tunnels closed).
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { SignedNetworkConfig } from '../../config/network-config.js';
import { parseCrl } from '../../pki/identity.js';
import type { EventLog } from '../events.js';
import { isNewerConfig, pickNetworkConfig, readSignedConfigFile, type HeldNetworkConfig, type NetworkConfigOrigin } from '../netconfig.js';
import type { PeerDb } from '../peers/peer-db.js';
import type { RegistryApi } from '../registry-sync.js';
import { TIMING } from '../settings.js';
import type { Clock } from '../sys/clock.js';

export interface NetworkConfigDeps {
  clock: Clock;
  log: Logger;
  events: EventLog;
  peerDb: PeerDb;
  caPem: string;
  /** Where crl.pem is written for openvpn. */
  runDir: string;
  /** The folder of resilnet.toml (network-config.json lies next to it). */
  configDir: string;
  registry: () => Pick<RegistryApi, 'networkConfig'>;
  /** Parts that act on revocations; absent until they are started. */
  revoke: {
    /** Drops sessions whose certificate is now revoked; returns their peers. */
    revalidateCerts: () => string[];
    closeRevoked: (serials: ReadonlySet<string>) => Promise<void>;
  };
  /** A newer config was adopted (after its revocations were applied). */
  onAdopted: (held: HeldNetworkConfig, before: HeldNetworkConfig) => Promise<void> | void;
  signal: AbortSignal;
}

export class NetworkConfigHolder {
  private heldConfig: HeldNetworkConfig | undefined;
  private revokedSerials = new Set<string>();

  constructor(private readonly deps: NetworkConfigDeps) {}

  /** The config in force; undefined until obtain() returned. */
  get held(): HeldNetworkConfig | undefined {
    return this.heldConfig;
  }

  /** Serials of revoked certificates (signed list, plus the CRL once parsed). */
  get revoked(): ReadonlySet<string> {
    return this.revokedSerials;
  }

  /** Peer DB cache, then the file `register` wrote, then the registry (with backoff until it answers). */
  async obtain(): Promise<HeldNetworkConfig> {
    const { peerDb, clock, signal } = this.deps;
    const candidates: Array<{ signed: SignedNetworkConfig; origin: NetworkConfigOrigin }> = [];
    const cached = peerDb.getNetworkConfig();
    if (cached) candidates.push({ signed: cached.signed, origin: 'peer-db' });
    try {
      const fromFile = readSignedConfigFile(join(this.deps.configDir, 'network-config.json'));
      if (fromFile) candidates.push({ signed: fromFile, origin: 'file' });
    } catch (err) {
      this.deps.log.warn({ err }, 'network config file unreadable; ignored');
    }
    let best = this.pick(candidates);
    for (let attempt = 0; !best; attempt++) {
      try {
        best = this.pick([{ signed: await this.deps.registry().networkConfig({ signal }), origin: 'registry' }]);
      } catch (err) {
        if (signal.aborted) throw err;
        this.deps.log.warn({ err, attempt }, 'no network config yet; retrying the registry');
      }
      if (!best) await clock.sleep(Math.min(TIMING.registryRetryMaxMs, 1000 * 2 ** Math.min(attempt, 5)), { signal });
    }
    peerDb.setNetworkConfig(best.signed, best.config.version, clock.nowMs());
    this.heldConfig = best;
    await this.applyRevocations(best, { initial: true });
    return best;
  }

  /** A config from the registry or a peer: adopted when it verifies and is newer. */
  async offer(signed: SignedNetworkConfig, origin: NetworkConfigOrigin): Promise<void> {
    const before = this.heldConfig;
    if (!before) return;
    const best = this.pick([{ signed, origin }]);
    if (!best || !isNewerConfig(before.config, best.config)) return;
    this.heldConfig = best;
    this.deps.peerDb.setNetworkConfig(best.signed, best.config.version, this.deps.clock.nowMs());
    this.deps.events.add('network-config', `network config version ${best.config.version} adopted (from ${origin}; was ${before.config.version})`);
    await this.applyRevocations(best, { initial: false });
    await this.deps.onAdopted(best, before);
  }

  private pick(candidates: Parameters<typeof pickNetworkConfig>[0]): HeldNetworkConfig | undefined {
    const { best, refused } = pickNetworkConfig(candidates, this.deps.caPem);
    for (const r of refused) {
      this.deps.log.error({ origin: r.origin, code: r.code }, `network config refused: ${r.message}`);
      this.deps.events.add('network-config', `network config from ${r.origin} refused (${r.code})`);
    }
    return best;
  }

  /** Writes the CRL openvpn reads and tears down tunnels to revoked serials. */
  private async applyRevocations(held: HeldNetworkConfig, options: { initial: boolean }): Promise<void> {
    const serials = new Set(held.config.revoked_serials);
    if (held.config.crl) {
      // At start the signed revoked_serials list is enough; the CRL (whose parser is slow to
      // load) is read a few seconds later, when the daemon is no longer competing for CPU.
      if (options.initial) {
        this.deps.clock.setTimeout(() => {
          if (this.heldConfig === held && !this.deps.signal.aborted) void this.applyRevocations(held, { initial: false });
        }, TIMING.crlParseDelayMs);
      } else {
        try {
          for (const s of parseCrl(held.config.crl, this.deps.caPem).serials) serials.add(s);
        } catch (err) {
          this.deps.log.warn({ err }, 'CRL in the network config unreadable; using its revoked_serials list');
        }
      }
      const crlPath = join(this.deps.runDir, 'crl.pem');
      writeFileSync(`${crlPath}.tmp`, held.config.crl, { mode: 0o644 });
      renameSync(`${crlPath}.tmp`, crlPath);
    }
    const added = [...serials].filter((s) => !this.revokedSerials.has(s));
    this.revokedSerials = serials;
    if (options.initial || added.length === 0) return;
    const { events, peerDb, clock, revoke } = this.deps;
    events.add('revocation', `new CRL: ${added.length} more revoked serial(s): ${added.join(', ')}`);
    const nowMs = clock.nowMs();
    for (const p of revoke.revalidateCerts()) peerDb.markDead(p, 'certificate revoked', nowMs);
    await revoke.closeRevoked(serials);
    // Dead peers with a revoked serial that had no tunnel.
    for (const p of peerDb.listPeers({ dead: false })) {
      if (p.certSerial && serials.has(p.certSerial)) peerDb.markDead(p.prefix, `certificate ${p.certSerial} revoked`, nowMs);
    }
  }
}
