// The CLI's side of the control API: one typed method per command over
// HTTP/1.1 on the daemon's Unix socket. Errors come back as ResilnetError with
// the daemon's code, or RN_DAEMON_UNREACHABLE when nobody answers.
import { request } from 'node:http';
import { ResilnetError } from '../../config/errors.js';
import {
  CONTROL_ROUTES,
  type ControlErrorBody,
  type EventsRequest,
  type EventsResponse,
  type HelpResponse,
  type PeersRequest,
  type PeersResponse,
  type ReloadResponse,
  type StatusResponse,
  type TunnelsResponse,
} from './protocol.js';

export interface ControlClientOptions {
  socketPath: string;
  timeoutMs?: number;
}

export class ControlClient {
  constructor(private readonly options: ControlClientOptions) {}

  help(options: { signal?: AbortSignal } = {}): Promise<HelpResponse> {
    return this.call('GET', CONTROL_ROUTES.help.path, undefined, options);
  }
  status(options: { signal?: AbortSignal } = {}): Promise<StatusResponse> {
    return this.call('GET', CONTROL_ROUTES.status.path, undefined, options);
  }
  peers(req: PeersRequest, options: { signal?: AbortSignal } = {}): Promise<PeersResponse> {
    return this.call('GET', `${CONTROL_ROUTES.peers.path}${req.dead ? '?dead=1' : ''}`, undefined, options);
  }
  tunnels(options: { signal?: AbortSignal } = {}): Promise<TunnelsResponse> {
    return this.call('GET', CONTROL_ROUTES.tunnels.path, undefined, options);
  }
  events(req: EventsRequest, options: { signal?: AbortSignal } = {}): Promise<EventsResponse> {
    return this.call('GET', `${CONTROL_ROUTES.events.path}?limit=${req.limit}`, undefined, options);
  }
  reload(options: { signal?: AbortSignal } = {}): Promise<ReloadResponse> {
    return this.call('POST', CONTROL_ROUTES.reload.path, {}, options);
  }

  /** Raw call, for tests and for commands the CLI does not know yet. */
  call<T>(method: 'GET' | 'POST', path: string, body: unknown, options: { signal?: AbortSignal } = {}): Promise<T> {
    const socketPath = this.options.socketPath;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise<T>((resolve, reject) => {
      const req = request(
        {
          socketPath,
          path,
          method,
          headers: {
            host: 'resilnet',
            ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
          },
          timeout: this.options.timeoutMs ?? 30_000,
          ...(options.signal ? { signal: options.signal } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let value: unknown;
            try {
              value = JSON.parse(text);
            } catch (err) {
              reject(new ResilnetError('RN_CONTROL_BAD_RESPONSE', `the daemon at ${socketPath} sent a reply that is not JSON (HTTP ${res.statusCode}).`, { cause: err }));
              return;
            }
            const error = (value as Partial<ControlErrorBody>)?.error;
            if ((res.statusCode ?? 500) >= 400 || error) {
              reject(
                new ResilnetError(error?.code ?? 'RN_CONTROL_BAD_RESPONSE', error?.message ?? `the daemon answered HTTP ${res.statusCode}`, {
                  ...(error?.hint ? { hint: error.hint } : {}),
                }),
              );
              return;
            }
            resolve(value as T);
          });
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
      req.on('error', (err: NodeJS.ErrnoException) => {
        reject(
          new ResilnetError(
            'RN_DAEMON_UNREACHABLE',
            `cannot reach the resilnet daemon at ${socketPath} (${err.code ?? err.message})`,
            { cause: err, hint: 'Is resilnet.service running? Try: systemctl status resilnet (or pass --socket / --config)' },
          ),
        );
      });
      req.end(payload);
    });
  }
}
