// The control API server: HTTP/1.1 on a Unix socket, mode 0600 (root only).
// Bad requests get `{ error: { code, message } }`; nothing a client sends can
// take the daemon down.
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import type { Logger } from 'pino';
import { ResilnetError } from '../../config/errors.js';
import { CONTROL_COMMANDS } from './commands/index.js';
import type { CommandHandler, ControlBackend } from './commands/handler.js';
import { CONTROL_ROUTES, httpStatusForCode, type ControlErrorBody, type HelpResponse } from './protocol.js';

export const MAX_CONTROL_BODY_BYTES = 64 * 1024;

export interface ControlServerOptions {
  socketPath: string;
}

export interface ControlServerDeps {
  backend: ControlBackend;
  log: Logger;
}

export class ControlServer {
  private server: Server | undefined;
  private readonly abort = new AbortController();

  constructor(
    private readonly options: ControlServerOptions,
    private readonly deps: ControlServerDeps,
  ) {}

  async start(): Promise<void> {
    const path = this.options.socketPath;
    await removeStaleSocket(path);
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err) => {
        this.deps.log.error({ err, unexpected: true }, 'control request failed');
        if (!res.headersSent) sendError(res, 'RN_CONTROL_INTERNAL', 'internal error');
      });
    });
    // A hung client must not keep the daemon from stopping.
    server.requestTimeout = 30_000;
    server.headersTimeout = 10_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // Created 0600 from the start: the umask closes the window before chmod.
      const oldMask = process.umask(0o177);
      try {
        server.listen(path, () => {
          server.off('error', reject);
          resolve();
        });
      } finally {
        process.umask(oldMask);
      }
    }).catch((err: NodeJS.ErrnoException) => {
      throw new ResilnetError(
        'RN_CONTROL_LISTEN_FAILED',
        `cannot listen on the control socket ${path} (${err.code ?? err.message}). Check that ${path}'s folder exists and is writable.`,
        { cause: err },
      );
    });
    chmodSync(path, 0o600);
    server.on('error', (err) => this.deps.log.warn({ err }, 'control server error'));
    this.server = server;
    this.deps.log.info({ socket: path }, 'control socket listening');
  }

  async stop(): Promise<void> {
    this.abort.abort(new Error('daemon stopping'));
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    try {
      unlinkSync(this.options.socketPath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.deps.log.warn({ err }, 'cannot remove control socket');
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://resilnet');
    if (url.pathname === CONTROL_ROUTES.help.path || url.pathname === '/' || url.pathname === '/help') {
      if (req.method !== 'GET') return sendError(res, 'RN_CONTROL_METHOD', `use GET for ${url.pathname}`);
      return sendJson(res, 200, helpResponse());
    }
    const handler = CONTROL_COMMANDS.find((c) => c.help.path === url.pathname);
    if (!handler) {
      return sendError(res, 'RN_CONTROL_NOT_FOUND', `unknown control command: ${url.pathname}`, `GET ${CONTROL_ROUTES.help.path} lists the commands`);
    }
    if (req.method !== handler.help.method) {
      return sendError(res, 'RN_CONTROL_METHOD', `use ${handler.help.method} for ${url.pathname} (got ${req.method})`);
    }
    let body: unknown;
    try {
      body = await readJsonBody(req);
    } catch (err) {
      return sendError(res, 'RN_CONTROL_BAD_REQUEST', (err as Error).message);
    }
    await this.runCommand(handler, url.searchParams, body, res);
  }

  private async runCommand(handler: CommandHandler, query: URLSearchParams, body: unknown, res: ServerResponse): Promise<void> {
    const parsed = handler.parse({ query, body });
    if (!parsed.ok) {
      return sendError(res, 'RN_CONTROL_BAD_REQUEST', `${handler.help.name}: ${parsed.message}`, `GET ${CONTROL_ROUTES.help.path} lists the parameters`);
    }
    try {
      const result = await handler.run(parsed.request, this.deps.backend, { signal: this.abort.signal });
      sendJson(res, 200, result);
    } catch (err) {
      if (err instanceof ResilnetError) {
        this.deps.log.warn({ err, command: handler.help.name }, 'control command failed');
        return sendError(res, err.code, err.message, err.hint);
      }
      this.deps.log.error({ err, command: handler.help.name, unexpected: true }, 'control command failed');
      return sendError(res, 'RN_CONTROL_INTERNAL', `${handler.help.name} failed: ${(err as Error)?.message ?? String(err)}`);
    }
  }
}

export function helpResponse(): HelpResponse {
  return { commands: CONTROL_COMMANDS.map((c) => c.help) };
}

async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_CONTROL_BODY_BYTES) throw new Error(`body larger than ${MAX_CONTROL_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`body is not valid JSON (${(err as Error).message})`);
  }
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const text = `${JSON.stringify(value)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: ServerResponse, code: string, message: string, hint?: string): void {
  const body: ControlErrorBody = { error: { code, message, ...(hint ? { hint } : {}) } };
  sendJson(res, httpStatusForCode(code), body);
}

/**
 * A socket file left by a daemon that died is removed; one that still answers
 * belongs to a running daemon, and we refuse to take it over.
 */
async function removeStaleSocket(path: string): Promise<void> {
  try {
    if (!lstatSync(path).isSocket()) {
      throw new ResilnetError('RN_CONTROL_LISTEN_FAILED', `control socket path ${path} exists and is not a socket. Remove it or set control.socket elsewhere.`);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const alive = await new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (alive) {
    throw new ResilnetError(
      'RN_DAEMON_ALREADY_RUNNING',
      `another resilnet daemon answers on ${path}. Stop it first (systemctl stop resilnet), or give this one another control.socket.`,
    );
  }
  unlinkSync(path);
}
