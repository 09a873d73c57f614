// Client of babeld's -G local socket. Frames lines only; parse.ts types them.
// Requests go one at a time over one connection (reply = data lines up to ok/no/bad);
// monitorEach() uses its own connection, so a slow consumer never delays a request.
import { ResilnetError } from '../../config/errors.js';
import type { Clock } from '../sys/clock.js';
import { LineSocket, withTimeout } from '../sys/line-socket.js';
import { isReplyEnd, isReplyEndLine, parseBabelLine, type BabelEvent } from './parse.js';
import { MonitorRepeats } from './repeats.js';
import { foldBabelEvents, type BabelTable } from './table.js';

export interface BabelReply {
  status: 'ok' | 'no' | 'bad';
  /** Text after no/bad, if any. */
  text: string;
  /** Data lines before the status line, parsed. */
  events: BabelEvent[];
}

export interface RequestOptions {
  signal?: AbortSignal;
  /** How long the request may wait for babeld (default: the client's). */
  timeoutMs?: number;
  /** Data lines for which this is false are dropped before they are parsed (the status line is always kept). */
  keep?: (rawLine: string) => boolean;
}

export interface BabelClientOptions {
  socketPath: string;
  clock: Clock;
  /** How long a request may wait for babeld (connecting included: babeld may still be starting). */
  requestTimeoutMs?: number;
  /** Cap of the reconnect backoff. */
  maxBackoffMs?: number;
}

interface Session {
  socket: LineSocket;
  banner: BabelEvent[];
}

const FIRST_BACKOFF_MS = 50;

export class BabelClient {
  private session: Session | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private closedFlag = false;
  private readonly monitors = new Set<LineSocket>();
  private readonly closeController = new AbortController();
  private readonly requestTimeoutMs: number;
  private readonly maxBackoffMs: number;

  constructor(private readonly options: BabelClientOptions) {
    this.requestTimeoutMs = options.requestTimeoutMs ?? 5000;
    this.maxBackoffMs = options.maxBackoffMs ?? 5000;
  }

  /** Banner fields of the current session (version, host, my-id), after a first request. */
  get banner(): BabelEvent[] {
    return this.session?.banner ?? [];
  }

  /**
   * Sends one statement (`dump`, `interface X …`, `flush interface X`) and returns the
   * reply. Throws RN_BABEL_UNREACHABLE when babeld cannot be reached within the
   * request timeout (`timeoutMs`, default the client's), RN_BABEL_BAD_REQUEST for a
   * line babeld could not take.
   */
  request(line: string, options: RequestOptions = {}): Promise<BabelReply> {
    if (/[\r\n]/.test(line) || line.trim() === '') {
      return Promise.reject(new ResilnetError('RN_BABEL_BAD_REQUEST', `babeld request refused: ${JSON.stringify(line)} (one non-empty line expected). This is a bug in the caller.`));
    }
    const run = this.chain.then(() => this.requestNow(line, options.signal, options.timeoutMs ?? this.requestTimeoutMs, options.keep));
    this.chain = run.catch(() => undefined);
    return run;
  }

  /**
   * Sends a configuration statement and throws RN_BABEL_REQUEST_REFUSED unless babeld
   * answers ok (e.g. `interfaceLine(…)`, `flushInterfaceLine(…)`).
   */
  async configure(line: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    const reply = await this.request(line, options);
    if (reply.status !== 'ok') {
      throw new ResilnetError('RN_BABEL_REQUEST_REFUSED', `babeld refused a statement: "${line}" (${reply.status}${reply.text ? ' ' + reply.text : ''}). Check the statement against babeld(8).`, {
        details: { line, status: reply.status },
      });
    }
  }

  /** `dump`, folded into a table. */
  async dump(options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<BabelTable> {
    const reply = await this.request('dump', options);
    return foldBabelEvents(reply.events);
  }

  /**
   * `dump` with only its interfaces parsed: what a check of babeld's configuration needs. The
   * routes (hundreds of lines in a 32-node network) are dropped unparsed.
   */
  async dumpInterfaces(options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<BabelTable['interfaces']> {
    const reply = await this.request('dump', { ...options, keep: (raw) => raw.startsWith('add interface ') });
    return foldBabelEvents(reply.events).interfaces;
  }

  /**
   * Hands every event of a `monitor` session to `onEvent`, as it arrives, until
   * `signal` or close(); resolves then. Each (re)connection starts with
   * `{ kind: 'reset' }`, then babeld's replay of its table as `add …` lines, then
   * live changes; fold them with applyBabelEvent. A change identical to the
   * object's previous line is left out (repeats.ts). Lines are handed over
   * synchronously, with no promise per line (babeld sends tens a second). An
   * `onEvent` that throws loses that event only: the error goes to `onError`.
   */
  async monitorEach(onEvent: (ev: BabelEvent) => void, options: { signal?: AbortSignal; onError?: (err: unknown, ev: BabelEvent) => void } = {}): Promise<void> {
    const signal = options.signal ? AbortSignal.any([options.signal, this.closeController.signal]) : this.closeController.signal;
    const deliver = (ev: BabelEvent): void => {
      try {
        onEvent(ev);
      } catch (err) {
        options.onError?.(err, ev);
      }
    };
    let backoffMs = FIRST_BACKOFF_MS;
    while (!signal.aborted) {
      let socket: LineSocket;
      try {
        socket = await LineSocket.connect(this.options.socketPath, this.options.clock, this.requestTimeoutMs);
      } catch {
        await this.options.clock.sleep(backoffMs, { signal }).catch(() => undefined);
        backoffMs = Math.min(this.maxBackoffMs, backoffMs * 2);
        continue;
      }
      this.monitors.add(socket);
      const onAbort = (): void => socket.close();
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        const banner = await readBanner(socket);
        if (banner !== undefined && !signal.aborted) {
          socket.write('monitor');
          backoffMs = FIRST_BACKOFF_MS;
          deliver({ kind: 'reset' });
          const repeats = new MonitorRepeats();
          await socket.drain((line) => {
            if (!signal.aborted && !repeats.isRepeat(line)) deliver(parseBabelLine(line));
          });
        }
      } finally {
        signal.removeEventListener('abort', onAbort);
        socket.close();
        this.monitors.delete(socket);
      }
      if (!signal.aborted) {
        await this.options.clock.sleep(backoffMs, { signal }).catch(() => undefined);
        backoffMs = Math.min(this.maxBackoffMs, backoffMs * 2);
      }
    }
  }

  /** Closes every connection; pending and later requests fail, monitors end. */
  close(): void {
    this.closedFlag = true;
    this.closeController.abort();
    this.session?.socket.close();
    this.session = undefined;
    for (const m of this.monitors) m.close();
  }

  private async requestNow(line: string, signal: AbortSignal | undefined, timeoutMs: number, keep: RequestOptions['keep']): Promise<BabelReply> {
    const deadlineMs = this.options.clock.nowMs() + timeoutMs;
    const session = await this.ensureSession(deadlineMs, signal);
    const remainingMs = Math.max(1, deadlineMs - this.options.clock.nowMs());
    session.socket.write(line);
    const collect = async (): Promise<BabelReply> => {
      const events: BabelEvent[] = [];
      for (;;) {
        const raw = await session.socket.nextLine();
        if (raw === undefined) {
          this.dropSession(session);
          throw new ResilnetError('RN_BABEL_UNREACHABLE', `babeld closed its socket during "${line}": ${this.options.socketPath} (${session.socket.closeReason ?? 'closed'}). The supervisor restarts babeld; retry.`);
        }
        if (keep && !keep(raw) && !isReplyEndLine(raw)) continue;
        const ev = parseBabelLine(raw);
        if (isReplyEnd(ev)) return { status: ev.kind, text: ev.kind === 'ok' ? '' : ev.text, events };
        events.push(ev);
      }
    };
    return withTimeout(
      collect(),
      this.options.clock,
      remainingMs,
      () => new ResilnetError('RN_BABEL_UNREACHABLE', `babeld did not answer "${line}": ${this.options.socketPath} (timeout after ${timeoutMs} ms). Is babeld running?`),
      // The reply may still come later and would be taken for the next one's: start afresh.
      () => this.dropSession(session),
    );
  }

  private dropSession(session: Session): void {
    session.socket.close();
    if (this.session === session) this.session = undefined;
  }

  private async ensureSession(deadlineMs: number, signal: AbortSignal | undefined): Promise<Session> {
    if (this.session && !this.session.socket.closed) return this.session;
    this.session = undefined;
    let backoffMs = FIRST_BACKOFF_MS;
    let lastError: unknown;
    for (;;) {
      if (this.closedFlag) throw new ResilnetError('RN_BABEL_UNREACHABLE', `babeld client is closed: ${this.options.socketPath}.`);
      if (signal?.aborted) throw signal.reason;
      const leftMs = deadlineMs - this.options.clock.nowMs();
      if (leftMs <= 0) break;
      try {
        const socket = await LineSocket.connect(this.options.socketPath, this.options.clock, leftMs);
        const banner = await withTimeout(readBanner(socket), this.options.clock, Math.max(1, deadlineMs - this.options.clock.nowMs()), () => new Error('no banner'), () => socket.close());
        if (banner === undefined) throw new Error('closed before the banner');
        this.session = { socket, banner };
        return this.session;
      } catch (err) {
        lastError = err;
      }
      await this.options.clock.sleep(Math.min(backoffMs, Math.max(1, deadlineMs - this.options.clock.nowMs())), signal ? { signal } : {});
      backoffMs = Math.min(this.maxBackoffMs, backoffMs * 2);
    }
    throw new ResilnetError('RN_BABEL_UNREACHABLE', `cannot reach babeld: ${this.options.socketPath} (${lastError instanceof Error ? lastError.message : 'timeout'}). Is babeld running?`, { cause: lastError });
  }
}

/** Reads the banner up to its `ok`; undefined if the connection closed first. */
async function readBanner(socket: LineSocket): Promise<BabelEvent[] | undefined> {
  const banner: BabelEvent[] = [];
  for (;;) {
    const line = await socket.nextLine();
    if (line === undefined) return undefined;
    const ev = parseBabelLine(line);
    if (ev.kind === 'ok') return banner;
    banner.push(ev);
  }
}
