// The registry's public HTTPS API (paths in wire/registry-api.ts, described in
// docs/registry-api.md). TLS asks every client for a certificate but accepts
// connections without one; routes that need a node check it themselves.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import {
  MAX_REQUEST_BYTES,
  REGISTRY_API_PATHS as P,
  bootstrapQuerySchema,
  enrolRequestSchema,
  heartbeatSchema,
  renewRequestSchema,
} from '../wire/registry-api.js';
import type { CertInfo } from '../pki/identity.js';
import { limitConnectionsPerAddress } from './connection-cap.js';
import type { RequestObserver } from './metrics.js';
import { readJson, readQuery, serveRequest, type Route } from './http-common.js';
import type { RegistryService } from './service.js';
import { createStatusPage } from './status-page/server.js';

const DAY_MS = 86_400_000;

export interface ApiServerOptions {
  service: RegistryService;
  certPem: string;
  keyPem: string;
  /** Renewal is allowed this long after a certificate expired. */
  graceDays: number;
  requestTimeoutMs: number;
  /** Open connections allowed from one client address; more are closed before TLS. */
  maxConnectionsPerAddress: number;
  /** Client certificates (`sha256:hex`) that may see the status page (GET /) from elsewhere than the registry host. */
  statusAdminFingerprints?: readonly string[] | undefined;
  log: Logger;
  /** Times each request (the metrics). */
  requests?: RequestObserver | undefined;
}

/** Header time-out (the request time-out applies too when it is shorter). */
export const HEADERS_TIMEOUT_MS = 10_000;
/**
 * How often Node checks the header and request time-outs. Its default (30 s)
 * cut slow clients at ~38 s instead of 10 s / 15 s.
 */
export const TIMEOUT_CHECK_INTERVAL_MS = 1_000;

function peerCertificate(req: IncomingMessage): Buffer | undefined {
  const socket = req.socket as TLSSocket;
  const cert = socket.getPeerCertificate?.();
  return cert && cert.raw ? cert.raw : undefined;
}

function remoteIp(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? '';
}

function apiRoutes(opts: ApiServerOptions): Route<null>[] {
  const s = opts.service;
  // The peer certificate cannot change on a TLS connection: check its chain once per connection.
  const verified = new WeakMap<object, CertInfo>();
  const auth = (req: IncomingMessage, graceMs = 0): CertInfo => {
    let info = verified.get(req.socket);
    if (!info) {
      info = s.verifyClientCertificate(peerCertificate(req));
      verified.set(req.socket, info);
    }
    s.checkAuthorized(info, { graceMs });
    return info;
  };
  return [
    { method: 'GET', path: P.health, handle: () => ({ ok: true, network_prefix: s.networkPrefix, network_config_version: s.configVersion() }) },
    { method: 'GET', path: P.ca, handle: () => ({ ca: s.caPem, fingerprint: s.fingerprint }) },
    {
      method: 'POST',
      path: P.enrol,
      handle: async (req) => {
        const body = await readJson(req, enrolRequestSchema, MAX_REQUEST_BYTES);
        return s.enrol(body.token, body.csr);
      },
    },
    {
      method: 'POST',
      path: P.renew,
      handle: async (req) => {
        const node = auth(req, opts.graceDays * DAY_MS);
        const body = await readJson(req, renewRequestSchema, MAX_REQUEST_BYTES);
        return s.renew(node, body.csr);
      },
    },
    { method: 'GET', path: P.networkConfig, handle: (req) => (auth(req), s.signedConfig()) },
    { method: 'GET', path: P.crl, handle: (req) => (auth(req), { crl: s.crlPem() }) },
    {
      method: 'GET',
      path: P.bootstrap,
      handle: (req, url) => {
        const node = auth(req);
        return s.bootstrap(node, readQuery(url, bootstrapQuerySchema).count);
      },
    },
    {
      method: 'POST',
      path: P.heartbeat,
      handle: async (req) => {
        const node = auth(req);
        const body = await readJson(req, heartbeatSchema, MAX_REQUEST_BYTES);
        return s.heartbeat(node, body, remoteIp(req));
      },
    },
  ];
}

/** Creates (does not start) the HTTPS server. */
export function createApiServer(opts: ApiServerOptions): Server {
  const routes = apiRoutes(opts);
  const statusPage = createStatusPage({ service: opts.service, adminFingerprints: opts.statusAdminFingerprints, log: opts.log });
  const server = createServer(
    {
      cert: opts.certPem,
      key: opts.keyPem,
      ca: opts.service.caPem,
      requestCert: true,
      rejectUnauthorized: false, // per-route checks; enrolment has no certificate yet
      handshakeTimeout: opts.requestTimeoutMs,
      minVersion: 'TLSv1.2',
      connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS,
    },
    (req: IncomingMessage, res: ServerResponse) => {
      opts.requests?.track(req, res, routes);
      if (statusPage.serves(req)) statusPage.handle(req, res);
      else void serveRequest(req, res, routes, null, opts.log);
    },
  );
  // Slow or stuck clients: cap header time, whole-request time and idle sockets.
  server.headersTimeout = Math.min(opts.requestTimeoutMs, HEADERS_TIMEOUT_MS);
  server.requestTimeout = opts.requestTimeoutMs;
  server.keepAliveTimeout = 5_000;
  server.timeout = opts.requestTimeoutMs * 2;
  server.maxHeadersCount = 64;
  limitConnectionsPerAddress(server, opts.maxConnectionsPerAddress, opts.log);
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    opts.log.debug({ err: { code: err.code, message: err.message } }, 'bad HTTP request');
    if (socket.writable && !(err.code === 'ECONNRESET')) {
      const body = JSON.stringify({ error: { code: 'RN_REGISTRY_BAD_REQUEST', message: `malformed HTTP request (${err.code ?? 'parse error'})` } });
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
      socket.end(`HTTP/1.1 ${status}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    } else {
      socket.destroy();
    }
  });
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket) => {
    opts.log.debug({ err: { code: err.code, message: err.message }, remote: socket.remoteAddress }, 'TLS handshake failed');
    socket.destroy();
  });
  return server;
}
