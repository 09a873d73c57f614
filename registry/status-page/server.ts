// GET / (the page) and GET /status.json (the same snapshot for scripts) on the
// registry's HTTPS port, for administrators only (access.ts). Bounded work per
// request: at most MAX_LISTED_NODES rows are read, and one snapshot and its page
// serve every request for SNAPSHOT_TTL_MS, however often browsers refresh.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { sendJson } from '../http-common.js';
import type { RegistryService, StatusSnapshot } from '../service.js';
import { adminFingerprintSet, decideAccess, type AccessDecision } from './access.js';
import { CONTENT_SECURITY_POLICY, renderStatusPage } from './render.js';

export const STATUS_PATHS = { page: '/', json: '/status.json' } as const;
/** Rows the page lists at most (the SVG draws at most MAX_DRAWN_NODES of them). */
export const MAX_LISTED_NODES = 500;
const SNAPSHOT_TTL_MS = 1000;

export interface StatusPageOptions {
  service: RegistryService;
  /** Client-certificate fingerprints (`sha256:hex`) with the admin role; empty: same-host access only. */
  adminFingerprints?: readonly string[] | undefined;
  log: Logger;
  nowMs?: (() => number) | undefined;
}

export interface StatusPage {
  /** True for the paths this page answers (the caller hands the request over). */
  serves(req: IncomingMessage): boolean;
  handle(req: IncomingMessage, res: ServerResponse): void;
}

function pathOf(req: IncomingMessage): string {
  const target = req.url ?? '/';
  const q = target.indexOf('?');
  return q < 0 ? target : target.slice(0, q);
}

function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...headers,
  });
  res.end(text);
}

export function createStatusPage(opts: StatusPageOptions): StatusPage {
  const admins = adminFingerprintSet(opts.adminFingerprints ?? []); // a bad entry fails the start
  const nowMs = opts.nowMs ?? Date.now;
  const s = opts.service;
  let cached: { atMs: number; snapshot: StatusSnapshot; html?: string } | undefined;

  const current = () => {
    const t = nowMs();
    if (!cached || t - cached.atMs >= SNAPSHOT_TTL_MS || t < cached.atMs) cached = { atMs: t, snapshot: s.statusSnapshot(MAX_LISTED_NODES) };
    return cached;
  };

  const access = (req: IncomingMessage): AccessDecision => {
    const cert = (req.socket as TLSSocket).getPeerCertificate?.();
    return decideAccess(
      { remoteAddress: req.socket.remoteAddress, localAddress: req.socket.localAddress, certificate: cert?.raw },
      admins,
      (der) => s.authenticate(der),
    );
  };

  return {
    serves: (req) => {
      const p = pathOf(req);
      return p === STATUS_PATHS.page || p === STATUS_PATHS.json;
    },
    handle: (req, res) => {
      const json = pathOf(req) === STATUS_PATHS.json;
      if (req.method !== 'GET') {
        const message = `${req.method} not allowed on ${pathOf(req)}; use GET`;
        if (json) sendJson(res, 405, { error: { code: 'RN_REGISTRY_METHOD_NOT_ALLOWED', message } }, { allow: 'GET' });
        else sendText(res, 405, `${message}\n`, { allow: 'GET' });
        return;
      }
      const decision = access(req);
      if (!decision.allowed) {
        opts.log.info({ remote: req.socket.remoteAddress, path: pathOf(req) }, 'status page refused');
        if (json) sendJson(res, 403, { error: { code: 'RN_REGISTRY_ADMIN_ONLY', message: decision.reason } });
        else sendText(res, 403, `403 Forbidden: ${decision.reason}\n`);
        return;
      }
      try {
        const c = current();
        if (json) {
          sendJson(res, 200, c.snapshot);
          return;
        }
        c.html ??= renderStatusPage(c.snapshot, c.atMs);
        res.writeHead(200, {
          'content-type': 'text/html; charset=utf-8',
          'content-length': Buffer.byteLength(c.html),
          'cache-control': 'no-store',
          'content-security-policy': CONTENT_SECURITY_POLICY,
          'x-content-type-options': 'nosniff',
          'referrer-policy': 'no-referrer',
        });
        res.end(c.html);
      } catch (err) {
        opts.log.error({ err, unexpected: true }, 'status page failed');
        sendText(res, 500, '500: the status page failed; see the registry log\n');
      }
    },
  };
}
