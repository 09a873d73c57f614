// A cap on open connections per client address, checked on the raw TCP socket
// before TLS: one client (or one flood source) cannot hold all of the
// registry's file descriptors. Connections over the cap are closed at once.
import type { Server } from 'node:net';
import type { Logger } from 'pino';

export interface ConnectionCap {
  /** Open connections from `address` (for tests and status). */
  count(address: string): number;
  /** Connections refused since start. */
  readonly refused: number;
}

export function limitConnectionsPerAddress(server: Server, maxPerAddress: number, log: Logger): ConnectionCap {
  const open = new Map<string, number>();
  let refused = 0;
  server.on('connection', (socket) => {
    const address = socket.remoteAddress ?? '';
    const n = open.get(address) ?? 0;
    if (n >= maxPerAddress) {
      refused++;
      // Logged once per burst, not per connection: a flood must not flood the log.
      if (refused % 1000 === 1) log.warn({ remote: address, max: maxPerAddress, refused }, 'connection refused: too many open connections from this address');
      socket.destroy();
      return;
    }
    open.set(address, n + 1);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left <= 0) open.delete(address);
      else open.set(address, left);
    });
  });
  return {
    count: (address) => open.get(address) ?? 0,
    get refused() {
      return refused;
    },
  };
}
