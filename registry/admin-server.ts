// The admin socket server: local-only management of tokens, revocation,
// nodes and the network config. Access control is the socket's mode (0600).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { parseDuration } from './tokens.js';
import { ADMIN_PATHS as A, configSetSchema, revokeSchema, tokenAddSchema, tokenRevokeSchema, type AdminStatus } from './admin-protocol.js';
import { readJson, serveRequest, type Route } from './http-common.js';
import type { RegistryService } from './service.js';

const ADMIN_BODY_LIMIT_BYTES = 256 * 1024;

export function createAdminServer(opts: { service: RegistryService; status: () => AdminStatus; log: Logger }): Server {
  const s = opts.service;
  const routes: Route<null>[] = [
    { method: 'GET', path: A.status, handle: () => opts.status() },
    { method: 'GET', path: A.tokens, handle: () => ({ tokens: s.listTokens() }) },
    {
      method: 'POST',
      path: A.tokens,
      handle: async (req) => {
        const body = await readJson(req, tokenAddSchema, ADMIN_BODY_LIMIT_BYTES);
        const { token, view } = s.addToken({
          uses: body.uses,
          expiresInMs: body.expires === undefined ? undefined : parseDuration(body.expires),
          email: body.email,
        });
        return { token, ...view };
      },
    },
    {
      method: 'POST',
      path: A.tokenRevoke,
      handle: async (req) => s.revokeToken((await readJson(req, tokenRevokeSchema, ADMIN_BODY_LIMIT_BYTES)).token),
    },
    { method: 'POST', path: A.revoke, handle: async (req) => s.revoke((await readJson(req, revokeSchema, ADMIN_BODY_LIMIT_BYTES)).target) },
    { method: 'GET', path: A.nodes, handle: () => ({ nodes: s.listNodes() }) },
    { method: 'GET', path: A.config, handle: () => s.configView() },
    { method: 'POST', path: A.config, handle: async (req) => s.setConfig((await readJson(req, configSetSchema, ADMIN_BODY_LIMIT_BYTES)).set) },
  ];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void serveRequest(req, res, routes, null, opts.log);
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.on('clientError', (_err, socket) => socket.destroy());
  return server;
}
