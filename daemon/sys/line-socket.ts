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
  /** Set by drain(): lines go straight to it, with no promise per line. */
  private sink: ((line: string) => void) | undefined;
  private drained: (() => void) | undefined;
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

  /**
   * From now on every line goes to `onLine`, synchronously as it arrives (the queued
   * ones first), instead of through nextLine(); resolves once the connection is closed.
   * For a stream of many lines (babeld's monitor): no promise is made per line.
   * `onLine` must not throw.
   */
  drain(onLine: (line: string) => void): Promise<void> {
    for (let line = this.queued.shift(); line !== undefined; line = this.queued.shift()) onLine(line);
    if (this.closedFlag) return Promise.resolve();
    this.sink = onLine;
    return new Promise((resolve) => {
      this.drained = resolve;
    });
  }

  close(): void {
    this.socket.destroy();
    this.onClose('closed by us');
  }

  private push(line: string): void {
    if (this.sink) {
      this.sink(line);
    } else if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve(line);
    } else {
      this.queued.push(line);
    }
  }

  private onData(chunk: string): void {
    // One slice per line and one for the tail: a chunk can hold a hundred lines.
    const text = this.rest === '' ? chunk : this.rest + chunk;
    let start = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
      const end = nl > start && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      this.push(text.slice(start, end));
      start = nl + 1;
    }
    this.rest = start === 0 ? text : text.slice(start);
    if (this.rest.length > MAX_LINE_CHARS) {
      this.push(this.rest.slice(0, MAX_LINE_CHARS));
      this.rest = '';
    }
  }

  private onClose(reason: string): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.closeReason = reason;
    this.sink = undefined;
    this.drained?.();
    this.drained = undefined;
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
