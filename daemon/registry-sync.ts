// The node's side of the registry: heartbeat on a timer, bootstrap peers when
// the peer DB has too few live ones, certificate renewal inside the window,
// and the newest signed network config and CRL. The registry being down is a
// health item, never a failure of the node: everything here is best effort.
import type { Logger } from 'pino';
import type { SignedNetworkConfig } from '../config/network-config.js';
import type { BootstrapPeer, Heartbeat, HeartbeatReply } from '../wire/registry-api.js';
import type { HealthRegistry } from './health/health.js';
import { every, type Periodic } from './every.js';
import type { RegistrySettings } from './settings.js';
import type { Cancel, Clock } from './sys/clock.js';

/** What this module needs of wire/registry-client.ts's RegistryClient. */
export interface RegistryApi {
  heartbeat(body: Heartbeat, opts: { signal?: AbortSignal }): Promise<HeartbeatReply>;
  bootstrap(count: number, opts: { signal?: AbortSignal }): Promise<{ peers: BootstrapPeer[] }>;
  networkConfig(opts: { signal?: AbortSignal }): Promise<SignedNetworkConfig>;
  crl(opts: { signal?: AbortSignal }): Promise<string>;
  renew(csrPem: string, opts: { signal?: AbortSignal }): Promise<{ certificate: string }>;
}

/** The registry slice of the node's settings (daemon/settings.ts). */
export type RegistrySyncOptions = RegistrySettings;

export interface RegistrySyncDeps {
  clock: Clock;
  log: Logger;
  health: Pick<HealthRegistry, 'raise' | 'clear'>;
  /** The client to use now (a reload may replace it). */
  api: () => RegistryApi;
  /** Points the client at another registry URL; throws (keeping the old one) for a bad URL. */
  useUrl: (url: string) => void;
  heartbeatBody: () => Heartbeat;
  livePeerCount: () => number;
  configVersion: () => number;
  certificateNotAfterMs: () => number;
  /** A CSR for the node's existing key. */
  createCsr: () => Promise<string>;
  onBootstrapPeers: (peers: BootstrapPeer[]) => void;
  /** The caller verifies and adopts it (or refuses it). */
  onNetworkConfig: (signed: SignedNetworkConfig) => Promise<void> | void;
  onCrl: (pem: string) => Promise<void> | void;
  onRenewed: (certPem: string) => Promise<void> | void;
  onSeenAddress?: (ip: string) => void;
}

export interface RegistrySyncStatus {
  lastContactMs: number | null;
  lastError: string | null;
}

const UNREACHABLE_HEALTH = 'RN_REGISTRY_UNREACHABLE';
/** First quick retry of a bootstrap that left the node short of peers; doubles up to the heartbeat interval. */
const FIRST_BOOTSTRAP_RETRY_MS = 1_000;
const RENEW_HEALTH = 'RN_PKI_CERT_EXPIRING';

export class RegistrySync {
  private abort: AbortController | undefined;
  private periodic: Periodic | undefined;
  private lastContactMs: number | null = null;
  private lastError: string | null = null;
  private bootstrapRetryMs = 0;
  private cancelBootstrapRetry: Cancel | undefined;

  constructor(
    private options: RegistrySyncOptions,
    private readonly deps: RegistrySyncDeps,
  ) {}

  start(): void {
    this.abort = new AbortController();
    this.periodic = every(this.options.heartbeatIntervalMs, 'registry-sync', (signal) => this.tick(signal), {
      clock: this.deps.clock,
      log: this.deps.log,
      signal: this.abort.signal,
      timeoutMs: this.options.callTimeoutMs * 4,
      firstDelayMs: 0,
    });
  }

  async stop(): Promise<void> {
    this.abort?.abort(new Error('daemon stopping'));
    this.cancelBootstrapRetry?.();
    await this.periodic?.idle();
  }

  /** Runs a sync soon (e.g. when the peer count falls). */
  trigger(): void {
    this.periodic?.trigger();
  }

  /** Takes a new registry slice: a new URL is used from the next call on, a new interval from the next tick. */
  reconfigure(slice: RegistrySettings, _options: { signal?: AbortSignal } = {}): { applied: true } {
    if (slice.url !== this.options.url) this.deps.useUrl(slice.url);
    this.options = slice;
    this.periodic?.setIntervalMs(slice.heartbeatIntervalMs);
    return { applied: true };
  }

  status(): RegistrySyncStatus {
    return { lastContactMs: this.lastContactMs, lastError: this.lastError };
  }

  /** One round: heartbeat, then whatever the node is missing. Exported for tests. */
  async tick(signal: AbortSignal): Promise<void> {
    const api = this.deps.api();
    let reply: HeartbeatReply;
    try {
      reply = await api.heartbeat(this.deps.heartbeatBody(), { signal });
    } catch (err) {
      this.failed(err);
      return;
    }
    this.contact();
    if (reply.seen_address) this.deps.onSeenAddress?.(reply.seen_address);

    if (reply.network_config_version > this.deps.configVersion()) {
      await this.step('network config', async () => {
        const signed = await api.networkConfig({ signal });
        await this.deps.onNetworkConfig(signed);
        await this.deps.onCrl(await api.crl({ signal }));
      });
    }
    if (this.deps.livePeerCount() < this.options.minLivePeers) {
      const ok = await this.step('bootstrap', async () => {
        const { peers } = await api.bootstrap(this.options.bootstrapCount, { signal });
        this.deps.onBootstrapPeers(peers);
      });
      // The registry hands out only nodes that already sent a heartbeat: in a network that is
      // starting, the first answers are short. Ask again soon rather than a heartbeat later.
      if (ok && this.deps.livePeerCount() < this.options.minLivePeers && !signal.aborted) this.retryBootstrapSoon();
      else this.bootstrapRetryMs = 0;
    }
    const leftMs = this.deps.certificateNotAfterMs() - this.deps.clock.nowMs();
    if (leftMs < this.options.renewWindowMs) {
      const ok = await this.step('certificate renewal', async () => {
        const { certificate } = await api.renew(await this.deps.createCsr(), { signal });
        await this.deps.onRenewed(certificate);
      });
      if (ok) this.deps.health.clear(RENEW_HEALTH);
      else {
        this.deps.health.raise({
          code: RENEW_HEALTH,
          title: 'Certificate renewal failing',
          severity: leftMs < 7 * 86_400_000 ? 'error' : 'warning',
          text: `the node certificate expires in ${Math.max(0, Math.round(leftMs / 86_400_000))} days and renewal failed (${this.lastError}). Check that the registry is reachable; the daemon retries every heartbeat.`,
        });
      }
    }
  }

  private retryBootstrapSoon(): void {
    this.bootstrapRetryMs = Math.min(this.options.heartbeatIntervalMs, this.bootstrapRetryMs > 0 ? this.bootstrapRetryMs * 2 : FIRST_BOOTSTRAP_RETRY_MS);
    if (this.bootstrapRetryMs >= this.options.heartbeatIntervalMs) return; // the regular heartbeat comes as soon
    this.cancelBootstrapRetry?.();
    this.cancelBootstrapRetry = this.deps.clock.setTimeout(() => {
      this.cancelBootstrapRetry = undefined;
      this.trigger();
    }, this.bootstrapRetryMs);
  }

  private async step(what: string, fn: () => Promise<void>): Promise<boolean> {
    try {
      await fn();
      this.contact();
      return true;
    } catch (err) {
      this.deps.log.warn({ err, step: what }, `registry ${what} failed`);
      this.lastError = describe(err);
      return false;
    }
  }

  private contact(): void {
    this.lastContactMs = this.deps.clock.nowMs();
    this.lastError = null;
    this.deps.health.clear(UNREACHABLE_HEALTH);
  }

  private failed(err: unknown): void {
    this.lastError = describe(err);
    this.deps.log.debug({ err }, 'registry heartbeat failed');
    this.deps.health.raise({
      code: UNREACHABLE_HEALTH,
      title: 'Registry unreachable',
      severity: 'warning',
      text: `heartbeats to the registry fail (${this.lastError}). Tunnels and routing keep working; new nodes and renewals wait until it is back.`,
      visibleAfterMs: this.options.heartbeatIntervalMs * 3,
    });
  }
}

function describe(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return e?.code ? `${e.code}: ${e.message}` : String(e?.message ?? err);
}
