// A Unix-socket connection read line by line, shared by the babeld and openvpn
// management clients (both speak newline-framed text, one peer at a time).
import { createConnection, type Socket } from 'node:net';
import { ResilnetError } from '../../config/errors.js';
import type { Clock } from './clock.js';

/** A line longer than this is cut: a peer that never sends a newline cannot grow us. */
const MAX_LINE_CHARS = 64 * 1024;

export class LineSocket {
  private readonly queued: string[] = [];
  private waiter: { resolve: (l: string | undefined) => void } | undefined;
  private rest = '';
  private closedFlag = false;
  closeReason: string | undefined;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', (err) => this.onClose(err.message));
    socket.on('close', () => this.onClose('closed by peer'));
  }

  /** Connects once; rejects with RN_SOCKET_UNREACHABLE (ENOENT, ECONNREFUSED, timeout…). */
  static connect(path: string, clock: Clock, timeoutMs: number): Promise<LineSocket> {
    return new Promise((resolve, reject) => {
      const socket = createConnection(path);
      const cancel = clock.setTimeout(() => {
        socket.destroy();
        reject(new ResilnetError('RN_SOCKET_UNREACHABLE', `cannot connect: ${path} (timeout after ${timeoutMs} ms).`));
      }, timeoutMs);
      const onError = (err: NodeJS.ErrnoException): void => {
        cancel();
        socket.destroy();
        reject(new ResilnetError('RN_SOCKET_UNREACHABLE', `cannot connect: ${path} (${err.code ?? err.message}).`, { cause: err }));
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        cancel();
        socket.off('error', onError);
        resolve(new LineSocket(socket));
      });
    });
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  write(line: string): void {
    if (this.closedFlag) return;
    this.socket.write(`${line}\n`);
  }

  /** Next line, or undefined once the connection is closed and drained. */
  nextLine(): Promise<string | undefined> {
    const line = this.queued.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.closedFlag) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      this.waiter = { resolve };
    });
  }

  close(): void {
    this.socket.destroy();
    this.onClose('closed by us');
  }

  private push(line: string): void {
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve(line);
    } else {
      this.queued.push(line);
    }
  }

  private onData(chunk: string): void {
    this.rest += chunk;
    let nl: number;
    while ((nl = this.rest.indexOf('\n')) >= 0) {
      this.push(this.rest.slice(0, nl).replace(/\r$/, ''));
      this.rest = this.rest.slice(nl + 1);
    }
    if (this.rest.length > MAX_LINE_CHARS) {
      this.push(this.rest.slice(0, MAX_LINE_CHARS));
      this.rest = '';
    }
  }

  private onClose(reason: string): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.closeReason = reason;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve(undefined);
    }
  }
}

/** Races a promise against a clock timeout; on timeout calls onTimeout and rejects with `error`. */
export function withTimeout<T>(p: Promise<T>, clock: Clock, ms: number, error: () => Error, onTimeout?: () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const cancel = clock.setTimeout(() => {
      onTimeout?.();
      reject(error());
    }, ms);
    p.then(
      (v) => {
        cancel();
        resolve(v);
      },
      (e: unknown) => {
        cancel();
        reject(e);
      },
    );
  });
}
