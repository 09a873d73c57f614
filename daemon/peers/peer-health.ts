// Peer health: the peer DB as the tunnel manager sees it, plus what makes dead
// peers come back. Each failed attempt is first judged (failure-blame.ts): a
// failure of this host is logged and raised as a health item, never recorded
// against the peer. Any proof of life revives a peer dead of failures: an
// authenticated packet from it, its tunnel request, the registry having seen
// it well after our last failure (30 s), or an answer to the retry hello sent to each dead
// peer when its (long, jittered) retry is due. Revoked peers stay dead.
import type { Logger } from 'pino';
import type { EventLog } from '../events.js';
import { every, type Periodic } from '../every.js';
import type { HealthRegistry } from '../health/health.js';
import type { Clock } from '../sys/clock.js';
import { parseHostPort } from '../tunnels/manager.js';
import { blameFailure, DEFAULT_BLAME_POLICY, type AttemptOutcome, type BlamePolicy } from './failure-blame.js';
import type { PeerDb, PeerRecord } from './peer-db.js';
import type { PeerPolicy } from './retry-policy.js';
import { stopController } from '../sys/abort.js';

/** Health item while this host's own sends fail. */
export const HOST_CUT_OFF = 'RN_PEERS_HOST_CUT_OFF';

/** Message kinds whose arrival counts as proof of life (the peer protocol authenticated them). */
export const LIFE_SIGNS = ['hello', 'addresses', 'peer-list', 'drain', 'config-chunk'] as const;

export interface PeerHealthOptions {
  blame: BlamePolicy;
  /** How often due dead peers are looked for. */
  probeIntervalMs: number;
  probeTimeoutMs: number;
  probeAttempts: number;
  /** Retry hellos sent per round at most. */
  maxProbesPerRound: number;
  /** A registry's last_seen older than this proves nothing. */
  registryRecentMs: number;
  /**
   * A registry sighting revives a peer only this long after our last failure with it: the registry
   * sees a peer we cannot reach all along, and reviving it the moment it was marked dead would
   * have us try it again at once, round after round.
   */
  registryReviveGapMs: number;
  /** Packets from one peer are checked against the DB at most this often. */
  proofCheckIntervalMs: number;
  /** Attempts remembered for the blame rule. */
  historySize: number;
}

export const DEFAULT_PEER_HEALTH_OPTIONS: PeerHealthOptions = {
  blame: DEFAULT_BLAME_POLICY,
  probeIntervalMs: 15_000,
  probeTimeoutMs: 2_000,
  probeAttempts: 2,
  maxProbesPerRound: 4,
  registryRecentMs: 600_000,
  registryReviveGapMs: 30_000,
  proofCheckIntervalMs: 5_000,
  historySize: 32,
};

type Store = Pick<PeerDb, 'getPeer' | 'upsertPeer' | 'recordFailure' | 'recordBusy' | 'recordSuccess' | 'markDead' | 'recordProofOfLife' | 'dueForRetry'>;

export interface PeerHealthDeps {
  clock: Clock;
  log: Pick<Logger, 'info' | 'debug' | 'warn'>;
  events: Pick<EventLog, 'add'>;
  health: Pick<HealthRegistry, 'raise' | 'clear'>;
  peers: Store;
  /** A hello over the peer protocol; resolves on the peer's authenticated answer. */
  hello: (to: { host: string; port: number; prefix: string }, options: { timeoutMs: number; attempts: number; signal: AbortSignal }) => Promise<unknown>;
  /** The order in which to try a peer's addresses (default: as stored). */
  orderAddresses?: (addresses: readonly string[]) => string[];
  /** Peers with a tunnel (or an attempt) in flight: their retry is the tunnel itself. */
  isAdjacent?: (prefix: string) => boolean;
  /** Last answer from the registry: hearing from it also shows this host is not cut off. */
  lastRegistryContactMs?: () => number | null;
}

export class PeerHealth {
  private readonly options: PeerHealthOptions;
  private readonly attempts: AttemptOutcome[] = [];
  private lastHeardMs: number | null = null;
  private readonly checkedAtMs = new Map<string, number>();
  private cutOffSinceMs: number | null = null;
  private abort = stopController();
  private periodic: Periodic | undefined;

  constructor(private readonly deps: PeerHealthDeps, options: Partial<PeerHealthOptions> = {}) {
    this.options = { ...DEFAULT_PEER_HEALTH_OPTIONS, ...options };
  }

  /** Starts the retry hellos to due dead peers. */
  start(): void {
    this.abort = new AbortController();
    this.periodic = every(this.options.probeIntervalMs, 'dead-peer-retry', (signal) => this.retryDuePeers(signal), {
      clock: this.deps.clock,
      log: this.deps.log,
      signal: this.abort.signal,
      timeoutMs: this.options.probeTimeoutMs * this.options.probeAttempts * 8 + 5_000,
    });
  }

  async stop(): Promise<void> {
    this.abort.abort(new Error('daemon stopping'));
    await this.periodic?.idle();
  }

  /** Counts authenticated messages from peers as proof of life; returns the unsubscribe function. */
  listenTo(peerproto: { on(kind: (typeof LIFE_SIGNS)[number], listener: (ev: { from: { prefix: string } }) => unknown): () => void }): () => void {
    const offs = LIFE_SIGNS.map((kind) => peerproto.on(kind, (ev) => this.heard(ev.from.prefix)));
    return () => offs.forEach((off) => off());
  }

  /** Whether this host looks cut off now (the health item is raised), and why. */
  status(): { cutOffSinceMs: number | null } {
    return { cutOffSinceMs: this.cutOffSinceMs };
  }

  // ---- the store the tunnel manager uses ------------------------------------

  getPeer(prefix: string): PeerRecord | undefined {
    return this.deps.peers.getPeer(prefix);
  }

  upsertPeer(report: Parameters<Store['upsertPeer']>[0], nowMs: number): ReturnType<Store['upsertPeer']> {
    return this.deps.peers.upsertPeer(report, nowMs);
  }

  markDead(prefix: string, reason: string, nowMs: number): boolean {
    return this.deps.peers.markDead(prefix, reason, nowMs);
  }

  /** A tunnel with the peer came up. */
  recordSuccess(prefix: string, nowMs: number): ReturnType<Store['recordSuccess']> {
    this.remember({ peer: prefix, atMs: nowMs, ok: true });
    this.heard(null, nowMs);
    return this.deps.peers.recordSuccess(prefix, nowMs);
  }

  /**
   * A failed attempt (`error`: what was thrown, when there is one). Recorded
   * against the peer only when the peer is to blame; a failure of this host
   * returns undefined and raises the health item instead.
   */
  /** The peer answered that it is full: alive, asked again later (an answer: this host is not cut off). */
  recordBusy(prefix: string, reason: string, nowMs: number): ReturnType<Store['recordBusy']> {
    this.remember({ peer: prefix, atMs: nowMs, ok: true });
    return this.deps.peers.recordBusy(prefix, reason, nowMs);
  }

  recordFailure(prefix: string, reason: string, nowMs: number, error?: unknown): ReturnType<Store['recordFailure']> {
    this.remember({ peer: prefix, atMs: nowMs, ok: false });
    const lastHeardMs = Math.max(this.lastHeardMs ?? -Infinity, this.deps.lastRegistryContactMs?.() ?? -Infinity);
    const verdict = blameFailure(error, { nowMs, attempts: this.attempts, lastHeardMs: Number.isFinite(lastHeardMs) ? lastHeardMs : null }, this.options.blame);
    if (verdict.blame === 'local') {
      this.deps.log.info({ peer: prefix, reason, why: verdict.why }, 'attempt failed on this host; not held against the peer');
      this.cutOffSinceMs ??= nowMs;
      this.deps.health.raise({
        code: HOST_CUT_OFF,
        title: 'this host cannot reach its peers',
        severity: 'warning',
        text: `${verdict.why}; last failure: ${reason} (peer ${prefix}). Peers are not marked dead for this. Check this host's uplink, routes and firewall.`,
      });
      return undefined;
    }
    this.checkedAtMs.delete(prefix);
    return this.deps.peers.recordFailure(prefix, reason, nowMs);
  }

  // ---- proof of life ---------------------------------------------------------

  /** An authenticated packet from `prefix` (null: from the network in general). */
  heard(prefix: string | null, nowMs = this.deps.clock.nowMs()): void {
    this.lastHeardMs = nowMs;
    if (this.cutOffSinceMs !== null) {
      this.deps.log.info({ cutOffForMs: nowMs - this.cutOffSinceMs, from: prefix }, 'heard from the network again');
      this.cutOffSinceMs = null;
      this.deps.health.clear(HOST_CUT_OFF);
    }
    if (prefix === null) return;
    const last = this.checkedAtMs.get(prefix);
    if (last !== undefined && nowMs - last < this.options.proofCheckIntervalMs) return;
    this.checkedAtMs.set(prefix, nowMs);
    this.recordProofOfLife(prefix, 'sent us an authenticated message', nowMs);
  }

  /** The peer is alive (`how` says why we think so): revives it unless revoked. */
  recordProofOfLife(prefix: string, how: string, nowMs = this.deps.clock.nowMs()): boolean {
    let result;
    try {
      result = this.deps.peers.recordProofOfLife(prefix, how, nowMs);
    } catch (err) {
      this.deps.log.warn({ err, peer: prefix }, 'cannot record proof of life');
      return false;
    }
    if (result?.revived) {
      this.deps.events.add('peer-alive', `peer ${prefix} reachable again (${how})`, prefix);
      this.deps.log.info({ peer: prefix, how }, 'dead peer revived');
    }
    return result?.revived ?? false;
  }

  /** Bootstrap peers from the registry: one it saw after our last failure is alive. */
  registrySaw(peers: ReadonlyArray<{ prefix: string; last_seen: string }>, nowMs = this.deps.clock.nowMs()): void {
    this.heard(null, nowMs);
    for (const p of peers) {
      const seenMs = Date.parse(p.last_seen);
      const record = this.deps.peers.getPeer(p.prefix);
      if (record === undefined || !registrySaysAlive(record, seenMs, nowMs, this.options.registryRecentMs, this.options.registryReviveGapMs)) continue;
      this.recordProofOfLife(p.prefix, `the registry saw it ${Math.max(0, Math.round((nowMs - seenMs) / 1000))} s ago`, nowMs);
    }
  }

  // ---- retries of dead peers -------------------------------------------------

  /** How often to look for due dead peers: a quarter of the first dead-peer wait, between 1 s and 15 s. */
  static probeIntervalFor(policy: Pick<PeerPolicy, 'deadRetryBaseMs'>): number {
    return Math.min(15_000, Math.max(1_000, Math.round(policy.deadRetryBaseMs / 4)));
  }

  /** One round: a hello to each dead peer whose retry is due (exported for tests). */
  async retryDuePeers(signal: AbortSignal): Promise<void> {
    const nowMs = this.deps.clock.nowMs();
    for (const [prefix, at] of this.checkedAtMs) if (nowMs - at > 60_000) this.checkedAtMs.delete(prefix);
    const due = this.deps.peers.dueForRetry(nowMs).filter((p) => !this.deps.isAdjacent?.(p.prefix)).slice(0, this.options.maxProbesPerRound);
    await Promise.all(due.map((p) => this.retry(p, signal)));
  }

  private async retry(p: PeerRecord, signal: AbortSignal): Promise<void> {
    const ordered = this.deps.orderAddresses ? this.deps.orderAddresses(p.addresses) : p.addresses;
    let lastError: unknown;
    for (const text of ordered) {
      const hp = parseHostPort(text);
      if (hp === undefined) continue;
      try {
        await this.deps.hello({ ...hp, prefix: p.prefix }, { timeoutMs: this.options.probeTimeoutMs, attempts: this.options.probeAttempts, signal });
        this.recordProofOfLife(p.prefix, `answered a retry hello at ${text}`);
        return;
      } catch (err) {
        if (signal.aborted) return;
        lastError = err;
      }
    }
    const result = this.recordFailure(p.prefix, 'no answer to a retry hello', this.deps.clock.nowMs(), lastError);
    if (result !== undefined) {
      this.deps.log.info({ peer: p.prefix, failures: result.failures, nextRetryInMs: result.retryAtMs - this.deps.clock.nowMs() }, 'dead peer retried: no answer');
    }
  }

  private remember(a: AttemptOutcome): void {
    this.attempts.push(a);
    if (this.attempts.length > this.options.historySize) this.attempts.splice(0, this.attempts.length - this.options.historySize);
  }
}

/**
 * The registry heard from a peer dead of failures recently and after our last
 * failed attempt: it is alive, so it is worth trying again.
 */
export function registrySaysAlive(p: Pick<PeerRecord, 'dead' | 'deadCause' | 'deadSinceMs' | 'lastFailureMs'>, seenMs: number, nowMs: number, recentMs: number, gapMs = 0): boolean {
  if (!p.dead || p.deadCause !== 'failures' || !Number.isFinite(seenMs)) return false;
  if (nowMs - seenMs > recentMs) return false;
  return seenMs > (p.lastFailureMs ?? p.deadSinceMs ?? Infinity) + gapMs;
}
