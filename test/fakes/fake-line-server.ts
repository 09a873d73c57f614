// A fake daemon behind a newline-framed Unix socket (babeld's local socket,
// openvpn's management interface): greets each connection, then hands every
// request line to the test's `onLine`, which answers on the socket (or closes it).
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface FakeLineServerOptions {
  /** Lines written to each new connection before any request. */
  greeting: string[];
  onLine(line: string, socket: Socket): void;
  /** Accept connections but never write anything. */
  silent?: boolean;
  /**
   * Runs the greeting and each onLine through this (default: at once), so a fake can hold
   * them while it plays a stopped process and carry them out later.
   */
  defer?: (action: () => void) => void;
}

export interface FakeLineServer {
  listen(): Promise<void>;
  /** Drops every open connection; the server keeps listening. */
  kick(): void;
  close(): Promise<void>;
  connections(): number;
  /** Every request line received, in order, over all connections. */
  received: string[];
}

export function fakeLineServer(path: string, options: FakeLineServerOptions): FakeLineServer {
  const sockets = new Set<Socket>();
  const received: string[] = [];
  let connections = 0;
  const server = createServer((s) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    if (options.silent) return;
    const defer = options.defer ?? ((action: () => void) => action());
    defer(() => {
      if (!s.destroyed) s.write(options.greeting.map((l) => `${l}\n`).join(''));
    });
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString();
      let k;
      while ((k = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, k);
        buf = buf.slice(k + 1);
        received.push(line);
        defer(() => options.onLine(line, s));
      }
    });
  });
  const kick = () => {
    for (const s of sockets) s.destroy();
  };
  return {
    listen: () => new Promise<void>((r) => server.listen(path, r)),
    kick,
    close: () => new Promise<void>((r) => {
      kick();
      server.close(() => r());
    }),
    connections: () => connections,
    received,
  };
}

/** A socket path in a fresh temporary folder, removed at teardown. */
export function tempSocketPath(t: { teardown(fn: () => void): void }, tag: string, fileName: string): string {
  const dir = mkdtempSync(join(tmpdir(), `rn-${tag}-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, fileName);
}
