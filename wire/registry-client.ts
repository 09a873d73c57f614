// The registry client used by `resilnet register` and by the node daemon.
// It pins the network's CA: the registry's certificate must chain to caPem;
// host names are not checked, because registries are often addressed by IP.
import { X509Certificate } from 'node:crypto';
import { Agent, request } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { z } from 'zod';
import { ResilnetError } from '../config/errors.js';
import type { SignedNetworkConfig } from '../config/network-config.js';
import { signedNetworkConfigSchema } from '../config/network-config.js';
import {
  REGISTRY_API_PATHS as P,
  bootstrapResponseSchema,
  caResponseSchema,
  crlResponseSchema,
  enrolResponseSchema,
  errorBodySchema,
  healthResponseSchema,
  heartbeatReplySchema,
  renewResponseSchema,
  type BootstrapResponse,
  type EnrolResponse,
  type HealthResponse,
  type Heartbeat,
  type HeartbeatReply,
} from './registry-api.js';

export interface RegistryClientOptions {
  /** Base URL, e.g. https://10.1.0.1:8443 */
  url: string;
  /** The pinned CA; without it only fetchCaPem()/health() may be called. */
  caPem?: string;
  /** Node certificate and key for the mutual-TLS calls. */
  certPem?: string;
  keyPem?: string;
  timeoutMs?: number;
}

export interface CallOptions {
  signal?: AbortSignal;
}

const MAX_RESPONSE_BYTES = 1024 * 1024;

const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'EADDRNOTAVAIL', 'ETIMEDOUT',
]);

export class RegistryClient {
  readonly url: URL;
  private readonly options: RegistryClientOptions;
  private readonly agent: Agent;
  private readonly timeoutMs: number;

  constructor(options: RegistryClientOptions) {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch (err) {
      throw new ResilnetError('RN_REGISTRY_URL_INVALID', `invalid registry URL "${options.url}". Use https://HOST:PORT`, { cause: err });
    }
    if (url.protocol !== 'https:') {
      throw new ResilnetError('RN_REGISTRY_URL_INVALID', `invalid registry URL "${options.url}": must start with https://`);
    }
    this.url = url;
    this.options = options;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.agent = new Agent({
      keepAlive: true,
      maxSockets: 64,
      ...(options.caPem ? { ca: options.caPem, rejectUnauthorized: true } : { rejectUnauthorized: false }),
      // The chain is still verified against `ca`; only the name check is skipped.
      checkServerIdentity: () => undefined,
      ...(options.certPem && options.keyPem ? { cert: options.certPem, key: options.keyPem } : {}),
    });
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.agent.destroy();
  }

  async health(opts: CallOptions = {}): Promise<HealthResponse> {
    return (await this.call('GET', P.health, undefined, healthResponseSchema, opts, { allowUnpinned: true })).body;
  }

  /**
   * Fetches the CA certificate. Works before a CA is pinned; the registry's
   * own TLS certificate must then be issued by the CA it returns.
   */
  async fetchCaPem(opts: CallOptions = {}): Promise<string> {
    const { body, peerRaw } = await this.call('GET', P.ca, undefined, caResponseSchema, opts, { allowUnpinned: true });
    let ca: X509Certificate;
    try {
      ca = new X509Certificate(body.ca);
    } catch (err) {
      throw new ResilnetError('RN_REGISTRY_BAD_RESPONSE', `registry at ${this.url.origin} returned an unreadable CA certificate`, { cause: err });
    }
    if (peerRaw) {
      const server = new X509Certificate(peerRaw);
      if (!server.checkIssued(ca) || !server.verify(ca.publicKey)) {
        throw new ResilnetError('RN_REGISTRY_TLS', `registry at ${this.url.origin} serves HTTPS with a certificate its own CA did not issue. Check --registry.`);
      }
    }
    return body.ca;
  }

  async enrol(token: string, csrPem: string, opts: CallOptions = {}): Promise<EnrolResponse> {
    return (await this.call('POST', P.enrol, { token, csr: csrPem }, enrolResponseSchema, opts)).body;
  }

  async renew(csrPem: string, opts: CallOptions = {}): Promise<{ certificate: string }> {
    return (await this.call('POST', P.renew, { csr: csrPem }, renewResponseSchema, opts)).body;
  }

  async networkConfig(opts: CallOptions = {}): Promise<SignedNetworkConfig> {
    return (await this.call('GET', P.networkConfig, undefined, signedNetworkConfigSchema, opts)).body;
  }

  async crl(opts: CallOptions = {}): Promise<string> {
    return (await this.call('GET', P.crl, undefined, crlResponseSchema, opts)).body.crl;
  }

  async bootstrap(count: number, opts: CallOptions = {}): Promise<BootstrapResponse> {
    return (await this.call('GET', `${P.bootstrap}?count=${encodeURIComponent(String(count))}`, undefined, bootstrapResponseSchema, opts)).body;
  }

  async heartbeat(body: Heartbeat, opts: CallOptions = {}): Promise<HeartbeatReply> {
    return (await this.call('POST', P.heartbeat, body, heartbeatReplySchema, opts)).body;
  }

  private async call<S extends z.ZodType>(
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
    schema: S,
    opts: CallOptions,
    flags: { allowUnpinned?: boolean } = {},
  ): Promise<{ body: z.output<S>; peerRaw: Buffer | undefined }> {
    if (!this.options.caPem && !flags.allowUnpinned) {
      throw new ResilnetError('RN_REGISTRY_CA_NOT_PINNED', `refusing ${method} ${path} to ${this.url.origin} without a pinned CA`);
    }
    const target = new URL(path, this.url);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8');
    const res = await this.send(method, target, payload, opts.signal);
    let json: unknown;
    try {
      json = JSON.parse(res.text);
    } catch (err) {
      throw new ResilnetError('RN_REGISTRY_BAD_RESPONSE', `registry at ${this.url.origin} answered ${method} ${path} with HTTP ${res.status} and no JSON. Is --registry the resilnet registry?`, { cause: err });
    }
    if (res.status >= 400) {
      const parsed = errorBodySchema.safeParse(json);
      if (parsed.success) {
        const e = parsed.data.error;
        throw new ResilnetError(e.code, e.message, { ...(e.hint ? { hint: e.hint } : {}), details: { status: res.status, path } });
      }
      throw new ResilnetError('RN_REGISTRY_BAD_RESPONSE', `registry at ${this.url.origin} answered ${method} ${path} with HTTP ${res.status}`);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      throw new ResilnetError('RN_REGISTRY_BAD_RESPONSE', `registry at ${this.url.origin} sent an invalid ${path} response: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    }
    return { body: parsed.data, peerRaw: res.peerRaw };
  }

  private send(method: string, target: URL, payload: Buffer | undefined, signal: AbortSignal | undefined): Promise<{ status: number; text: string; peerRaw: Buffer | undefined }> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (err: unknown) => {
        if (settled) return;
        settled = true;
        reject(this.translate(err));
      };
      const req = request(target, {
        method,
        agent: this.agent,
        headers: {
          accept: 'application/json',
          ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
        },
        signal,
      });
      req.setTimeout(this.timeoutMs, () => {
        req.destroy(new ResilnetError('RN_REGISTRY_TIMEOUT', `registry at ${this.url.origin} did not answer ${method} ${target.pathname} within ${this.timeoutMs} ms. Check that it is running and reachable.`));
      });
      req.on('error', fail);
      req.on('response', (res: IncomingMessage) => {
        const socket = res.socket as TLSSocket;
        const peerRaw = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate()?.raw : undefined;
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) {
            res.destroy();
            fail(new ResilnetError('RN_REGISTRY_BAD_RESPONSE', `registry response larger than ${MAX_RESPONSE_BYTES} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', fail);
        res.on('end', () => {
          if (settled) return;
          settled = true;
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), peerRaw });
        });
      });
      req.end(payload);
    });
  }

  private translate(err: unknown): ResilnetError {
    if (err instanceof ResilnetError) return err;
    const e = err as NodeJS.ErrnoException;
    const code = e?.code ?? '';
    if (e?.name === 'AbortError') {
      return new ResilnetError('RN_REGISTRY_ABORTED', `request to the registry at ${this.url.origin} was cancelled`, { cause: err });
    }
    if (UNREACHABLE_CODES.has(code)) {
      return new ResilnetError('RN_REGISTRY_UNREACHABLE', `cannot reach the registry at ${this.url.origin} (${code}). Is \`resilnet registry serve\` running there, and is the URL right?`, { cause: err });
    }
    if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL|SSL/.test(code) || /certificate|ssl|tls/i.test(e?.message ?? '')) {
      return new ResilnetError('RN_REGISTRY_TLS', `TLS with the registry at ${this.url.origin} failed (${code || e?.message}). Its certificate must be issued by the pinned network CA; if the network was re-created, register again with --force.`, { cause: err });
    }
    return new ResilnetError('RN_REGISTRY_UNREACHABLE', `cannot talk to the registry at ${this.url.origin} (${code || e?.message}).`, { cause: err });
  }
}
