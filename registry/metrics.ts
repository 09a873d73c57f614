// The registry's metrics (listed in docs/metrics.md), on their own plain-HTTP
// listener ([metrics] listen in registry.toml, loopback by default). Node counts
// are read on each scrape (one counting query); enrolments, renewals and revocations are counted as
// the service does them; each API request's time is observed per route pattern
// (never the raw URL, so the label set stays bounded).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { formatListen, type ListenAddress } from '../config/metrics-listen.js';
import { ResilnetError } from '../config/errors.js';
import { MetricsEndpoint } from '../daemon/metrics/endpoint.js';
import { Counter, Gauge, Histogram, Registry } from '../daemon/metrics/prom.js';
import { NODE_STATES, type NodeState } from './db.js';

/** What the service reports as it works (RegistryServiceDeps.activity). */
export interface RegistryActivity {
  /** A certificate issued for a token: a new node, or a known key enrolling again. */
  enrolled(again: boolean): void;
  renewed(): void;
  /** Certificates revoked by one revoke command. */
  revoked(certificates: number): void;
}

/** Times API requests (ApiServerOptions.requests). */
export interface RequestObserver {
  track(req: IncomingMessage, res: ServerResponse, routes: readonly { method: string; path: string }[]): void;
}

export interface RegistryMetricsSource {
  /** Enrolled nodes per state. */
  nodeCounts(): Readonly<Record<NodeState, number>>;
  configVersion(): number;
}

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class RegistryMetrics implements RegistryActivity, RequestObserver {
  readonly registry = new Registry();
  private readonly enrolments: Counter<'kind'>;
  private readonly renewals: Counter;
  private readonly revocations: Counter;
  private readonly latency: Histogram<'route' | 'method' | 'code'>;
  private endpoint: MetricsEndpoint | undefined;

  constructor(source: RegistryMetricsSource) {
    const registers = [this.registry];
    new Gauge({
      name: 'resilnet_registry_nodes',
      help: 'Enrolled nodes by state: online (heard within liveness.offline_after_sec), offline, never-seen, revoked.',
      labelNames: ['state'],
      registers,
      collect() {
        const counts = source.nodeCounts();
        for (const state of NODE_STATES) this.set({ state }, counts[state]);
      },
    });
    new Gauge({
      name: 'resilnet_registry_network_config_version',
      help: 'Version of the signed network config the registry serves.',
      registers,
      collect() {
        this.set(source.configVersion());
      },
    });
    this.enrolments = new Counter({ name: 'resilnet_registry_enrolments_total', help: 'Certificates issued for a token: kind new (a new node) or again (a known key enrolling again).', labelNames: ['kind'], registers });
    this.renewals = new Counter({ name: 'resilnet_registry_renewals_total', help: 'Certificates renewed.', registers });
    this.revocations = new Counter({ name: 'resilnet_registry_revocations_total', help: 'Certificates revoked.', registers });
    this.latency = new Histogram({
      name: 'resilnet_registry_http_request_duration_seconds',
      help: 'Time to answer an API request, by route pattern (other: no such path), method and HTTP status.',
      labelNames: ['route', 'method', 'code'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    for (const kind of ['new', 'again']) this.enrolments.inc({ kind }, 0);
  }

  enrolled(again: boolean): void {
    this.enrolments.inc({ kind: again ? 'again' : 'new' });
  }

  renewed(): void {
    this.renewals.inc();
  }

  revoked(certificates: number): void {
    this.revocations.inc(certificates);
  }

  track(req: IncomingMessage, res: ServerResponse, routes: readonly { method: string; path: string }[]): void {
    const startMs = performance.now();
    const path = (req.url ?? '/').split('?')[0];
    const route = routes.some((r) => r.path === path) ? path! : 'other';
    const method = routes.some((r) => r.method === req.method) ? req.method! : 'other';
    let done = false;
    const observe = () => {
      if (done) return;
      done = true;
      // A connection closed before the answer counts as status 0.
      this.latency.observe({ route, method, code: String(res.writableFinished ? res.statusCode : 0) }, (performance.now() - startMs) / 1000);
    };
    res.once('finish', observe);
    res.once('close', observe);
  }

  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  /**
   * Serves the metrics at `address`; answers the address bound, or null when it cannot be
   * bound (logged: the registry's API keeps serving without metrics).
   */
  async serve(address: ListenAddress, log: Logger): Promise<string | null> {
    const endpoint = new MetricsEndpoint({ render: () => this.scrape(), contentType: this.registry.contentType, log });
    try {
      const listen = formatListen(await endpoint.start(address));
      this.endpoint = endpoint;
      log.info({ listen }, 'metrics endpoint serving');
      return listen;
    } catch (err) {
      if (!(err instanceof ResilnetError)) throw err;
      log.error({ err, hint: err.hint }, 'metrics endpoint not serving');
      return null;
    }
  }

  async stop(): Promise<void> {
    await this.endpoint?.stop();
    this.endpoint = undefined;
  }
}
