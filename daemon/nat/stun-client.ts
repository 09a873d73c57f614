// Sends STUN binding requests from one UDP socket to several servers and
// collects the mapped endpoint each one reports. One socket for all of them is
// the point: a NAT that gives the same socket the same external endpoint
// towards every server maps endpoint-independently. Requests are resent with
// doubling intervals (a late or lost answer is normal on a loaded network);
// a server that never answers is reported, not thrown.
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { encodeBindingRequest, parseBindingResponse, type StunBindingResult } from './stun.js';

export interface StunServer {
  host: string;
  port: number;
}

export type StunProbeResult =
  | ({ server: StunServer; ok: true; rttMs: number } & StunBindingResult)
  | { server: StunServer; ok: false; error: string };

export interface StunProbeOptions {
  /** Local port to send from (0: any). */
  localPort?: number;
  /** Overall wait per server. */
  timeoutMs?: number;
  /** First resend after this long, doubled each time. */
  firstResendMs?: number;
  signal?: AbortSignal;
}

export const DEFAULT_STUN_TIMEOUT_MS = 5_000;

/** "host:port" or "[v6]:port" (port default 3478). */
export function parseStunServer(text: string): StunServer {
  const m = /^\[([0-9a-fA-F:.]+)\](?::(\d+))?$/.exec(text) ?? /^([^:[\]\s]+)(?::(\d+))?$/.exec(text);
  const port = m?.[2] === undefined ? 3478 : Number(m[2]);
  if (!m || !m[1] || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(`invalid STUN server "${text}" (use host:port, e.g. stun.example.net:3478)`);
  }
  return { host: m[1], port };
}

export function formatStunServer(s: StunServer): string {
  return isIPv6(s.host) ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`;
}

export interface StunSocket {
  localPort: number;
  /** One binding request (resent until answered or timed out) to `server`. */
  probe(server: StunServer): Promise<StunProbeResult>;
  close(): void;
}

/** Binds one UDP socket (IPv4 unless `ipv6`) for a series of probes. */
export async function openStunSocket(options: StunProbeOptions & { ipv6?: boolean } = {}): Promise<StunSocket> {
  const socket = createSocket({ type: options.ipv6 ? 'udp6' : 'udp4' });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(options.localPort ?? 0, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  return {
    localPort: socket.address().port,
    probe: (server) => probeOne(socket, server, options),
    close: () => socket.close(),
  };
}

function probeOne(socket: Socket, server: StunServer, options: StunProbeOptions): Promise<StunProbeResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_STUN_TIMEOUT_MS;
  const transactionId = randomBytes(12);
  const request = encodeBindingRequest(transactionId);
  const startedMs = Date.now();
  return new Promise((resolve) => {
    const timers: NodeJS.Timeout[] = [];
    let lastRefusal: string | undefined;
    const finish = (result: StunProbeResult) => {
      for (const t of timers) clearTimeout(t);
      socket.off('message', onMessage);
      socket.off('error', onError);
      options.signal?.removeEventListener('abort', onAbort);
      resolve(result);
    };
    const onMessage = (msg: Buffer) => {
      try {
        finish({ server, ok: true, rttMs: Date.now() - startedMs, ...parseBindingResponse(msg, transactionId) });
      } catch (err) {
        // A stray or late datagram (e.g. the previous server's answer) is not this one's answer: keep waiting.
        lastRefusal = (err as Error).message;
      }
    };
    const onError = (err: Error) => finish({ server, ok: false, error: `socket error: ${err.message}` });
    const onAbort = () => finish({ server, ok: false, error: 'aborted' });
    socket.on('message', onMessage);
    socket.on('error', onError);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const send = () =>
      socket.send(request, server.port, server.host, (err) => {
        if (err) lastRefusal = `send failed: ${err.message}`;
      });
    // Resends at t, 3t, 7t, … inside the deadline.
    let at = 0;
    let gap = options.firstResendMs ?? 500;
    while (at < timeoutMs) {
      timers.push(setTimeout(send, at));
      at += gap;
      gap *= 2;
    }
    timers.push(
      setTimeout(
        () => finish({ server, ok: false, error: `no answer in ${(timeoutMs / 1000).toFixed(1)} s${lastRefusal ? ` (last datagram refused: ${lastRefusal})` : ''}` }),
        timeoutMs,
      ),
    );
  });
}
