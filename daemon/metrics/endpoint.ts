// The Prometheus endpoint of the daemon and of the registry: plain HTTP, GET
// /metrics renders the exposition text on each scrape (nothing is computed
// between scrapes). No authentication: bind it to loopback or a private address.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { ResilnetError } from '../../config/errors.js';
import { formatListen, type ListenAddress } from '../../config/metrics-listen.js';

export const METRICS_PATH = '/metrics';

export interface MetricsEndpointDeps {
  /** Renders the exposition text (prom-client's Registry.metrics()). */
  render: () => Promise<string>;
  contentType: string;
  log: Logger;
}

export class MetricsEndpoint {
  private server: Server | undefined;

  constructor(private readonly deps: MetricsEndpointDeps) {}

  /** Binds `address` (port 0: any free port) and answers with the address bound; RN_METRICS_LISTEN_FAILED when it cannot. */
  async start(address: ListenAddress): Promise<ListenAddress> {
    const server = createServer((req, res) => void this.handle(req, res));
    // A scraper that stalls must not hold a socket for long.
    server.requestTimeout = 10_000;
    server.headersTimeout = 5_000;
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: address.host, port: address.port }, () => {
        server.off('error', reject);
        resolve();
      });
    }).catch((err: NodeJS.ErrnoException) => {
      throw new ResilnetError('RN_METRICS_LISTEN_FAILED', `the metrics endpoint cannot listen on ${formatListen(address)} (${err.code ?? err.message})`, {
        cause: err,
        hint: 'Set [metrics] listen to a free IP:PORT of this host (or "" to turn metrics off).',
      });
    });
    this.server = server;
    const bound = server.address() as AddressInfo;
    return { host: bound.address, port: bound.port };
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return answer(res, 405, 'only GET is served here\n', { allow: 'GET, HEAD' });
    if (path === '/') return answer(res, 200, `resilnet metrics: GET ${METRICS_PATH}\n`);
    if (path !== METRICS_PATH) return answer(res, 404, `no such path ${path}; metrics are at ${METRICS_PATH}\n`);
    try {
      answer(res, 200, await this.deps.render(), { 'content-type': this.deps.contentType }, req.method === 'HEAD');
    } catch (err) {
      this.deps.log.error({ err, unexpected: true }, 'metrics scrape failed');
      answer(res, 500, 'metrics could not be rendered; see the log\n');
    }
  }
}

function answer(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}, headOnly = false): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', ...headers });
  res.end(headOnly ? undefined : body);
}
