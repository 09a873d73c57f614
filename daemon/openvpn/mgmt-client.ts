// One management session per openvpn process (the interface serves one client at a
// time, REPORT.md §6): a command queue over it and the notifications as events.
// While openvpn starts (or restarts under the supervisor) the socket may not exist
// yet: the client keeps reconnecting with backoff until close().
import { ResilnetError } from '../../config/errors.js';
import { backoffDelayMs, type Backoff } from '../sys/backoff.js';
import type { Clock } from '../sys/clock.js';
import { LineSocket, withTimeout } from '../sys/line-socket.js';
import { isNotification, MgmtReplyFramer, parseMgmtLine, type MgmtLine, type MgmtReply } from './mgmt-parse.js';

export type MgmtEvent =
  | { kind: 'connected' }
  | { kind: 'disconnected'; reason: string }
  | { kind: 'line'; line: MgmtLine };

export interface MgmtClientOptions {
  socketPath: string;
  clock: Clock;
  /** Sent after every (re)connect, e.g. ['state on', 'bytecount 5']. */
  onConnectCommands?: string[];
  commandTimeoutMs?: number;
  maxBackoffMs?: number;
}

interface Pending {
  line: string;
  resolve: (r: MgmtReply) => void;
  reject: (e: unknown) => void;
}

const FIRST_BACKOFF_MS = 50;
const RETRY_BACKOFF: Backoff = { firstMs: 500, maxMs: 5_000 };

export class MgmtClient {
  private socket: LineSocket | undefined;
  private readonly listeners = new Set<(e: MgmtEvent) => void>();
  private readonly queue: Pending[] = [];
  private inFlight: Pending | undefined;
  private framer = new MgmtReplyFramer();
  private readonly stopController = new AbortController();
  private connectedWaiters: Array<() => void> = [];
  private loop: Promise<void> | undefined;

  constructor(private readonly options: MgmtClientOptions) {}

  on(listener: (e: MgmtEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get connected(): boolean {
    return this.socket !== undefined && !this.socket.closed;
  }

  /** Starts the connect/read loop (returns at once). */
  start(): void {
    this.loop ??= this.run();
  }

  /**
   * Sends a command once connected and resolves with its reply. Rejects with
   * RN_OPENVPN_MGMT_TIMEOUT (no reply in time, including the time to connect) or
   * RN_OPENVPN_MGMT_CLOSED (session lost or client closed).
   */
  command(line: string): Promise<MgmtReply> {
    if (/[\r\n]/.test(line)) return Promise.reject(new ResilnetError('RN_OPENVPN_MGMT_BAD_COMMAND', `management command refused: ${JSON.stringify(line)} (one line expected).`));
    if (this.stopController.signal.aborted) return Promise.reject(this.closedError('client closed'));
    const timeoutMs = this.options.commandTimeoutMs ?? 10_000;
    let pending!: Pending;
    const p = new Promise<MgmtReply>((resolve, reject) => {
      pending = { line, resolve, reject };
    });
    this.queue.push(pending);
    this.pump();
    return withTimeout(p, this.options.clock, timeoutMs, () => new ResilnetError('RN_OPENVPN_MGMT_TIMEOUT', `openvpn did not answer "${line}": ${this.options.socketPath} (timeout after ${timeoutMs} ms). Is the openvpn process running?`), () => {
      const i = this.queue.indexOf(pending);
      if (i >= 0) this.queue.splice(i, 1);
      // An answer that comes later would be taken for the next command's: reset the session.
      if (this.inFlight === pending) this.socket?.close();
    });
  }

  /**
   * command(), run again with backoff while openvpn does not answer in time or the session
   * drops (a slow or restarting openvpn is not a failure); `onRetry` reports each retry (for a
   * log line or health warning). Rejects with the last error after `attempts` tries, or at close.
   */
  async commandRetrying(line: string, options: { attempts?: number; backoff?: Backoff; signal?: AbortSignal; onRetry?: (err: ResilnetError, attempt: number, delayMs: number) => void } = {}): Promise<MgmtReply> {
    const attempts = options.attempts ?? 4;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.command(line);
      } catch (err) {
        const retriable = err instanceof ResilnetError && (err.code === 'RN_OPENVPN_MGMT_TIMEOUT' || err.code === 'RN_OPENVPN_MGMT_CLOSED');
        if (!retriable || attempt >= attempts || this.stopController.signal.aborted || options.signal?.aborted) throw err;
        const delayMs = backoffDelayMs(attempt, options.backoff ?? RETRY_BACKOFF);
        options.onRetry?.(err, attempt, delayMs);
        const signal = options.signal ? AbortSignal.any([options.signal, this.stopController.signal]) : this.stopController.signal;
        await this.options.clock.sleep(delayMs, { signal }).catch(() => undefined);
      }
    }
  }

  /** Resolves once a session is up (or rejects on close). */
  waitConnected(): Promise<void> {
    if (this.connected) return Promise.resolve();
    if (this.stopController.signal.aborted) return Promise.reject(this.closedError('client closed'));
    return new Promise((resolve) => this.connectedWaiters.push(resolve));
  }

  async close(): Promise<void> {
    this.stopController.abort();
    this.socket?.write('quit');
    this.socket?.close();
    this.failAll('client closed');
    await this.loop;
  }

  private closedError(reason: string): ResilnetError {
    return new ResilnetError('RN_OPENVPN_MGMT_CLOSED', `openvpn management session lost: ${this.options.socketPath} (${reason}).`);
  }

  private failAll(reason: string): void {
    const all = [...(this.inFlight ? [this.inFlight] : []), ...this.queue.splice(0)];
    this.inFlight = undefined;
    for (const p of all) p.reject(this.closedError(reason));
  }

  private emit(e: MgmtEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        // A listener's bug must not end the session.
      }
    }
  }

  private pump(): void {
    if (this.inFlight || !this.connected) return;
    const next = this.queue.shift();
    if (!next) return;
    this.inFlight = next;
    this.socket!.write(next.line);
  }

  private async run(): Promise<void> {
    const signal = this.stopController.signal;
    let backoffMs = FIRST_BACKOFF_MS;
    const maxBackoffMs = this.options.maxBackoffMs ?? 2000;
    while (!signal.aborted) {
      let socket: LineSocket;
      try {
        socket = await LineSocket.connect(this.options.socketPath, this.options.clock, 5000);
      } catch {
        await this.options.clock.sleep(backoffMs, { signal }).catch(() => undefined);
        backoffMs = Math.min(maxBackoffMs, backoffMs * 2);
        continue;
      }
      if (signal.aborted) {
        socket.close();
        break;
      }
      this.socket = socket;
      this.framer = new MgmtReplyFramer();
      backoffMs = FIRST_BACKOFF_MS;
      // Setup commands go first, ahead of anything queued while disconnected.
      const setup = (this.options.onConnectCommands ?? []).map((line) => ({ line, resolve: () => undefined, reject: () => undefined }));
      this.queue.unshift(...setup);
      this.emit({ kind: 'connected' });
      for (const w of this.connectedWaiters.splice(0)) w();
      this.pump();
      for (;;) {
        const raw = await socket.nextLine();
        if (raw === undefined) break;
        const parsed = parseMgmtLine(raw);
        if (isNotification(parsed)) {
          this.emit({ kind: 'line', line: parsed });
          continue;
        }
        const reply = this.framer.push(parsed);
        if (reply && this.inFlight) {
          const done = this.inFlight;
          this.inFlight = undefined;
          done.resolve(reply);
          this.pump();
        }
      }
      this.socket = undefined;
      if (this.inFlight) {
        this.inFlight.reject(this.closedError(socket.closeReason ?? 'closed'));
        this.inFlight = undefined;
      }
      this.emit({ kind: 'disconnected', reason: socket.closeReason ?? 'closed' });
      if (!signal.aborted) await this.options.clock.sleep(backoffMs, { signal }).catch(() => undefined);
    }
  }
}
