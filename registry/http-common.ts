// Request/response plumbing shared by the HTTPS API and the admin socket:
// bounded JSON bodies, strict content types, and `{error:{code,message}}`
// answers whose HTTP status follows from the error code.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { ResilnetError } from '../config/errors.js';

/** Bodies up to this size are drained before a 413, so the client reads the answer. */
const DRAIN_LIMIT_BYTES = 1024 * 1024;

const STATUS_BY_CODE: Record<string, number> = {
  RN_REGISTRY_BAD_JSON: 400,
  RN_REGISTRY_BAD_REQUEST: 400,
  RN_REGISTRY_ADDRESS_REFUSED: 400,
  RN_REGISTRY_SETTING_INVALID: 400,
  RN_REGISTRY_DURATION_INVALID: 400,
  RN_PKI_CSR_INVALID: 400,
  RN_PKI_SERIAL_INVALID: 400,
  RN_PREFIX_INVALID: 400,
  RN_REGISTRY_AUTH_REQUIRED: 401,
  RN_PKI_CERT_INVALID: 403,
  RN_PKI_CERT_EXPIRED: 403,
  RN_PKI_CERT_REVOKED: 403,
  RN_REGISTRY_NODE_UNKNOWN: 403,
  RN_REGISTRY_TOKEN_INVALID: 403,
  RN_REGISTRY_TOKEN_USED: 403,
  RN_REGISTRY_TOKEN_EXPIRED: 403,
  RN_REGISTRY_NOT_FOUND: 404,
  RN_REGISTRY_TOKEN_UNKNOWN: 404,
  RN_REGISTRY_CERT_UNKNOWN: 404,
  RN_REGISTRY_METHOD_NOT_ALLOWED: 405,
  RN_REGISTRY_TIMEOUT: 408,
  RN_REGISTRY_NETWORK_FULL: 409,
  RN_REGISTRY_RENEW_TOO_EARLY: 409,
  RN_REGISTRY_BODY_TOO_LARGE: 413,
  RN_REGISTRY_UNSUPPORTED_MEDIA_TYPE: 415,
  RN_REGISTRY_NOT_READY: 503,
};

export function statusForCode(code: string): number {
  return STATUS_BY_CODE[code] ?? 500;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

/** Answers with the error's code; anything that is not a ResilnetError is a logged 500. */
export function sendError(res: ServerResponse, err: unknown, log: Logger, headers: Record<string, string> = {}): void {
  if (err instanceof ResilnetError) {
    const status = statusForCode(err.code);
    if (status >= 500) log.error({ err, unexpected: true }, 'request failed');
    sendJson(res, status, { error: { code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}) } }, headers);
    return;
  }
  log.error({ err, unexpected: true }, 'request failed');
  sendJson(res, 500, { error: { code: 'RN_REGISTRY_INTERNAL', message: 'internal error in the registry; see its log' } }, headers);
}

function tooLarge(limitBytes: number): ResilnetError {
  return new ResilnetError('RN_REGISTRY_BODY_TOO_LARGE', `request body larger than ${limitBytes} bytes`);
}

/** Reads the whole body (at most limitBytes); too-large bodies are drained, then refused. */
export function readBody(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (Number.isFinite(declared) && declared > DRAIN_LIMIT_BYTES) {
      reject(tooLarge(limitBytes)); // the caller answers with Connection: close
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > DRAIN_LIMIT_BYTES) {
        req.pause();
        reject(tooLarge(limitBytes));
        return;
      }
      if (size > limitBytes) over = true;
      else chunks.push(chunk);
    });
    req.on('end', () => (over ? reject(tooLarge(limitBytes)) : resolve(Buffer.concat(chunks))));
    req.on('error', (err) => reject(new ResilnetError('RN_REGISTRY_BAD_REQUEST', `request body could not be read (${err.message})`, { cause: err })));
  });
}

export function issuesText(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
}

/** Content type, size, JSON syntax and schema, each with its own 4xx code. */
export async function readJson<S extends z.ZodType>(req: IncomingMessage, schema: S, limitBytes: number): Promise<z.output<S>> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') {
    // Drain what we can so the answer reaches the client, then refuse.
    await readBody(req, limitBytes).catch(() => undefined);
    throw new ResilnetError('RN_REGISTRY_UNSUPPORTED_MEDIA_TYPE', `content-type must be application/json (got "${type || 'none'}")`);
  }
  const body = await readBody(req, limitBytes);
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new ResilnetError('RN_REGISTRY_BAD_JSON', `request body is not valid JSON (${(err as Error).message})`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new ResilnetError('RN_REGISTRY_BAD_REQUEST', `invalid request: ${issuesText(parsed.error)}`);
  return parsed.data;
}

/** Parses a query string with a schema (400 on failure). */
export function readQuery<S extends z.ZodType>(url: URL, schema: S): z.output<S> {
  const parsed = schema.safeParse(Object.fromEntries(url.searchParams));
  if (!parsed.success) throw new ResilnetError('RN_REGISTRY_BAD_REQUEST', `invalid query: ${issuesText(parsed.error)}`);
  return parsed.data;
}

export interface Route<Ctx> {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  handle: (req: IncomingMessage, url: URL, ctx: Ctx) => Promise<unknown> | unknown;
}

/** Finds the route, or throws 404 / 405 (with the allowed methods). */
export function matchRoute<Ctx>(routes: readonly Route<Ctx>[], method: string, path: string): Route<Ctx> {
  const forPath = routes.filter((r) => r.path === path);
  if (forPath.length === 0) throw new ResilnetError('RN_REGISTRY_NOT_FOUND', `no such API path: ${path}`, { hint: 'See docs/registry-api.md for the paths.' });
  const route = forPath.find((r) => r.method === method);
  if (!route) {
    throw new ResilnetError('RN_REGISTRY_METHOD_NOT_ALLOWED', `${method} not allowed on ${path}; use ${forPath.map((r) => r.method).join(' or ')}`, {
      details: { allow: forPath.map((r) => r.method).join(', ') },
    });
  }
  return route;
}

/** Runs one request: routing, handler, JSON answer; never throws. */
export async function serveRequest<Ctx>(
  req: IncomingMessage,
  res: ServerResponse,
  routes: readonly Route<Ctx>[],
  ctx: Ctx,
  log: Logger,
): Promise<void> {
  let url: URL;
  try {
    url = new URL(req.url ?? '/', 'http://registry.invalid');
  } catch {
    sendJson(res, 400, { error: { code: 'RN_REGISTRY_BAD_REQUEST', message: 'request target is not a valid URL path' } });
    return;
  }
  try {
    const route = matchRoute(routes, req.method ?? 'GET', url.pathname);
    const result = await route.handle(req, url, ctx);
    sendJson(res, 200, result);
  } catch (err) {
    const headers: Record<string, string> = {};
    if (err instanceof ResilnetError && err.code === 'RN_REGISTRY_METHOD_NOT_ALLOWED') headers.allow = String(err.details?.allow ?? '');
    // A body we did not read to the end leaves the connection unusable.
    if (!req.complete) headers.connection = 'close';
    sendError(res, err, log, headers);
  }
}
