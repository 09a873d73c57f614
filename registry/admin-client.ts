// The CLI's side of the admin socket (HTTP/1.1 JSON over DIR/admin.sock).
import { request } from 'node:http';
import { ResilnetError } from '../config/errors.js';
import { errorBodySchema } from '../wire/registry-api.js';
import {
  ADMIN_PATHS as A,
  type AdminStatus,
  type ConfigView,
  type NodesResponse,
  type RevokeResult,
  type TokenAddRequest,
  type TokenAddResponse,
  type TokenListResponse,
  type TokenView,
} from './admin-protocol.js';

export class AdminClient {
  constructor(private readonly socketPath: string, private readonly timeoutMs = 30_000) {}

  status(): Promise<AdminStatus> {
    return this.call('GET', A.status);
  }
  addToken(req: TokenAddRequest): Promise<TokenAddResponse> {
    return this.call('POST', A.tokens, req);
  }
  listTokens(): Promise<TokenListResponse> {
    return this.call('GET', A.tokens);
  }
  revokeToken(token: string): Promise<TokenView> {
    return this.call('POST', A.tokenRevoke, { token });
  }
  revoke(target: string): Promise<RevokeResult> {
    return this.call('POST', A.revoke, { target });
  }
  nodes(): Promise<NodesResponse> {
    return this.call('GET', A.nodes);
  }
  config(): Promise<ConfigView> {
    return this.call('GET', A.config);
  }
  setConfig(pairs: string[]): Promise<ConfigView> {
    return this.call('POST', A.config, { set: pairs });
  }

  private call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise<T>((resolve, reject) => {
      const req = request({
        socketPath: this.socketPath,
        path,
        method,
        headers: payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {},
        timeout: this.timeoutMs,
      });
      req.on('timeout', () => req.destroy(new ResilnetError('RN_REGISTRY_ADMIN_UNREACHABLE', `the registry did not answer on ${this.socketPath} within ${this.timeoutMs} ms`)));
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err instanceof ResilnetError) return reject(err);
        reject(new ResilnetError('RN_REGISTRY_ADMIN_UNREACHABLE', `cannot reach the registry admin socket ${this.socketPath} (${err.code ?? err.message}). Is \`resilnet registry serve --dir …\` running for this --dir?`, { cause: err }));
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let json: unknown;
          try {
            json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch (err) {
            return reject(new ResilnetError('RN_REGISTRY_BAD_RESPONSE', `the admin socket ${this.socketPath} sent no JSON`, { cause: err }));
          }
          if ((res.statusCode ?? 500) >= 400) {
            const e = errorBodySchema.safeParse(json);
            return reject(e.success
              ? new ResilnetError(e.data.error.code, e.data.error.message, e.data.error.hint ? { hint: e.data.error.hint } : {})
              : new ResilnetError('RN_REGISTRY_BAD_RESPONSE', `admin request failed with HTTP ${res.statusCode}`));
          }
          resolve(json as T);
        });
      });
      req.end(payload);
    });
  }
}
