// A fake babeld that keeps the state babeld 1.12.1 keeps for the statements the
// daemon sends (default hello, runtime interfaces) and answers as it does:
// `interface` on a known interface is ok but changes nothing until the link
// goes down and up again (`setLink`, as an `ip link set` seen by babeld), `flush`
// of an unknown one is `no No such interface`. It can stall like a SIGSTOPped babeld:
// lines are kept and carried out on resume, even those of connections the client
// gave up on. Two faces: `FakeBabeldState.client(clock)` (a BabelClient stand-in
// on a FakeClock, no socket) and `fakeBabeldSocket(path, state)` (a real Unix socket).
import type { BabelReply } from '../../daemon/babel/client.js';
import { parseBabelLine, type BabelEvent } from '../../daemon/babel/parse.js';
import { foldBabelEvents, type BabelTable } from '../../daemon/babel/table.js';
import type { Clock } from '../../daemon/sys/clock.js';
import { fakeLineServer, type FakeLineServer } from './fake-line-server.js';

export const FAKE_BABELD_BANNER = ['BABEL 1.0', 'version babeld-1.12.1', 'host fake', 'my-id 72:5c:4b:ff:fe:4c:bf:3e', 'ok'];

export class FakeBabeldState {
  defaultHello: string | null = null;
  /** Interface name → the statement that added it (what babeld runs on it). */
  readonly interfaces = new Map<string, string>();
  /** Interface name → the latest statement about it, which babeld applies when the link comes up. */
  private readonly stored = new Map<string, string>();
  /** Interfaces whose link is down. */
  readonly linkDown = new Set<string>();
  /** Monitor sessions: each gets interface changes as babeld's monitor prints them. */
  private readonly monitors = new Set<(line: string) => void>();
  /** Every line carried out, in order. */
  readonly handled: string[] = [];
  /** Lines waiting while stalled (carried out on resume). */
  private readonly held: Array<() => void> = [];
  stalled = false;
  /** Answer override for a line (e.g. 'bad'); undefined = normal handling. */
  refuse: ((line: string) => string | undefined) | undefined;

  /** Carries out one line now and returns the reply lines. */
  handle(line: string): string[] {
    this.handled.push(line);
    const override = this.refuse?.(line);
    if (override !== undefined) return [override];
    if (line === 'dump') return [...this.interfaceLines('add'), 'ok'];
    if (line === 'unmonitor') return ['ok'];
    let m = /^default hello-interval (\S+)$/.exec(line);
    if (m) {
      this.defaultHello = m[1]!;
      return ['ok'];
    }
    m = /^interface (\S+)( .*)?$/.exec(line);
    if (m) {
      const known = this.interfaces.has(m[1]!);
      if (!known) this.interfaces.set(m[1]!, line);
      this.stored.set(m[1]!, line);
      if (!known) this.tell(`add interface ${m[1]!} up ${!this.linkDown.has(m[1]!)}`);
      return ['ok'];
    }
    m = /^flush interface (\S+)$/.exec(line);
    if (m) {
      this.stored.delete(m[1]!);
      if (!this.interfaces.delete(m[1]!)) return ['no No such interface'];
      this.tell(`flush interface ${m[1]!} up false`);
      return ['ok'];
    }
    return ['bad'];
  }

  /** The link of an interface goes down or up; coming up, babeld applies the statement it stored. */
  setLink(ifName: string, up: boolean): void {
    if (!up) {
      this.linkDown.add(ifName);
    } else {
      const stored = this.stored.get(ifName);
      if (this.linkDown.delete(ifName) && stored !== undefined && this.interfaces.has(ifName)) this.interfaces.set(ifName, stored);
    }
    if (this.interfaces.has(ifName)) this.tell(`change interface ${ifName} up ${up}`);
  }

  /** The interface lines of a dump (or of a monitor's start). */
  interfaceLines(action: 'add'): string[] {
    return [`${action} interface rn-placeholder up false`, ...[...this.interfaces.keys()].map((n) => `${action} interface ${n} up ${!this.linkDown.has(n)}`)];
  }

  /** Starts a monitor session; returns its end. */
  watch(send: (line: string) => void): () => void {
    this.monitors.add(send);
    return () => this.monitors.delete(send);
  }

  private tell(line: string): void {
    for (const send of this.monitors) send(line);
  }

  /** The rxcost babeld runs on an interface (null: its default). */
  rxcostOf(ifName: string): string | null {
    return /rxcost (\S+)/.exec(this.interfaces.get(ifName) ?? '')?.[1] ?? null;
  }

  /** Runs `fn` now, or on resume while stalled. */
  whenRunning(fn: () => void): void {
    if (this.stalled) this.held.push(fn);
    else fn();
  }

  stall(): void {
    this.stalled = true;
  }

  resume(): void {
    this.stalled = false;
    for (const fn of this.held.splice(0)) fn();
  }

  /** A fresh babeld: nothing configured at runtime. */
  restart(): void {
    this.defaultHello = null;
    this.interfaces.clear();
    this.stored.clear();
    this.linkDown.clear();
    this.held.length = 0;
    this.stalled = false;
  }

  /** The hello interval babeld runs on an interface (from the statement that added it). */
  helloOf(ifName: string): string | undefined {
    return /hello-interval (\S+)/.exec(this.interfaces.get(ifName) ?? '')?.[1];
  }

  /**
   * A BabelClient stand-in on an injected clock: a request while stalled is kept
   * (and carried out on resume, as babeld does with lines of a closed connection)
   * and rejects with RN_BABEL_UNREACHABLE after its timeout.
   */
  client(clock: Clock): {
    request(line: string, o?: { timeoutMs?: number }): Promise<BabelReply>;
    dump(o?: { timeoutMs?: number }): Promise<BabelTable>;
    dumpInterfaces(o?: { timeoutMs?: number }): Promise<BabelTable['interfaces']>;
  } {
    const request = (line: string, o: { timeoutMs?: number } = {}): Promise<BabelReply> =>
      new Promise((resolve, reject) => {
        let done = false;
        const cancel = clock.setTimeout(() => {
          done = true;
          reject(Object.assign(new Error(`babeld did not answer "${line}" (timeout after ${o.timeoutMs ?? 5000} ms)`), { code: 'RN_BABEL_UNREACHABLE' }));
        }, o.timeoutMs ?? 5000);
        this.whenRunning(() => {
          const reply = this.handle(line);
          if (done) return;
          cancel();
          resolve(toReply(reply));
        });
      });
    return {
      request,
      dump: async (o = {}) => foldBabelEvents((await request('dump', o)).events),
      dumpInterfaces: async (o = {}) => foldBabelEvents((await request('dump', o)).events).interfaces,
    };
  }
}

function toReply(lines: string[]): BabelReply {
  const events: BabelEvent[] = lines.slice(0, -1).map(parseBabelLine);
  const last = parseBabelLine(lines.at(-1)!);
  const status = last.kind === 'ok' || last.kind === 'no' || last.kind === 'bad' ? last.kind : 'bad';
  return { status, text: last.kind === 'no' || last.kind === 'bad' ? last.text : '', events };
}

/** The same fake behind a real Unix socket (banner per connection, also held while stalled; `monitor` sends interface changes). */
export function fakeBabeldSocket(path: string, state: FakeBabeldState): FakeLineServer {
  return fakeLineServer(path, {
    greeting: FAKE_BABELD_BANNER,
    defer: (action) => state.whenRunning(action),
    onLine: (line, s) => {
      if (line === 'monitor') {
        const stop = state.watch((l) => {
          if (!s.destroyed) s.write(`${l}\n`);
        });
        s.once('close', stop);
      }
      const reply = line === 'monitor' ? [...state.interfaceLines('add'), 'ok'] : state.handle(line);
      if (!s.destroyed) s.write(reply.map((l) => `${l}\n`).join(''));
    },
  });
}
