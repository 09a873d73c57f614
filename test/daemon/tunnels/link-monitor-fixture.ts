// A link monitor on a fake clock whose host can stall, with a fake peer protocol
// (hellos sent are recorded, the peer's frames are handed in) and, with `beats`,
// fake interface counters and a fake beat sender.
import { pino } from 'pino';
import { EventLog } from '../../../daemon/events.js';
import { linkLocalFor } from '../../../daemon/identity.js';
import type { Incoming, PeerAddress } from '../../../daemon/peerproto/protocol.js';
import type { Clock } from '../../../daemon/sys/clock.js';
import { LinkMonitor, type MonitoredTunnel } from '../../../daemon/tunnels/link-monitor.js';
import type { HelloMessage, PeerMessage } from '../../../wire/messages.js';
import { FakeClock } from '../../fakes/fake-clock.js';

export const B = 'fd00:1:0:2::/64';
export const IF_B = 'rnb000000000000';

/**
 * A fake clock whose host can stall: `stall(ms)` moves time on without running
 * any timer, so the timers due meanwhile fire that much late, as on a starved loop.
 */
export class StallingClock implements Clock {
  private offsetMs = 0;
  constructor(readonly fake: FakeClock) {}
  nowMs(): number {
    return this.fake.nowMs() + this.offsetMs;
  }
  setTimeout(fn: () => void, ms: number): () => void {
    return this.fake.setTimeout(fn, ms);
  }
  sleep(ms: number): Promise<void> {
    return this.fake.sleep(ms);
  }
  stall(ms: number): void {
    this.offsetMs += ms;
  }
  advance(ms: number): Promise<void> {
    return this.fake.advance(ms);
  }
  pendingTimers(): number {
    return this.fake.pendingTimers();
  }
}

export interface LinkFixtureOptions {
  helloIntervalSec?: number;
  hasLinkKey?: () => boolean;
  lateness?: { noteTick(lateMs: number, atMs?: number): void };
  pressurePct?: () => number;
  /** Beats on: `counters` are the tunnel interface's (the test moves them), `beats` lists the beats sent. */
  beats?: boolean;
  /** Stands in for the beat socket's send (default: sent). */
  beatSend?: () => boolean;
  /** Beats do not move the tx counter when sent (the test moves it: openvpn reading them late). */
  beatTxByTest?: boolean;
  /** tunnels.link_idle_pace (absent: off, as in the settings of an older caller). */
  idlePace?: number;
}

export function setup(options: LinkFixtureOptions = {}) {
  const clock = new StallingClock(new FakeClock(1_000_000));
  const events = new EventLog({ clock });
  const sent: Array<{ to: PeerAddress; msg: HelloMessage; atMs: number; withCert: boolean }> = [];
  let listener: ((ev: Incoming) => unknown) | undefined;
  const calls: string[] = [];
  const tunnels: MonitoredTunnel[] = [{ peer: B, ifName: IF_B, childName: `openvpn to ${B}`, openedAtMs: 1_000_000, everUp: true }];
  const settings: { helloIntervalSec: number; misses: number; beats?: boolean; idlePace?: number } = {
    helloIntervalSec: options.helloIntervalSec ?? 0.25,
    misses: 4,
    ...(options.idlePace !== undefined ? { idlePace: options.idlePace } : {}),
  };
  const counters = { rxPackets: 0, txPackets: 0, rxBytes: 0 };
  const beats: Array<{ ifName: string; atMs: number }> = [];
  const forgotten: string[] = [];
  const beatDeps = options.beats
    ? {
        beats: {
          send: (ifName: string) => {
            if (options.beatSend && !options.beatSend()) return false;
            beats.push({ ifName, atMs: clock.nowMs() });
            if (!options.beatTxByTest) counters.txPackets++;
            return true;
          },
          forget: (ifName: string) => void forgotten.push(ifName),
          close: () => undefined,
        },
        counters: () => new Map([[IF_B, { ...counters }]]),
      }
    : {};
  const monitor = new LinkMonitor({
    clock,
    log: pino({ level: 'silent' }),
    events,
    peerproto: {
      async send(to, msg, o) {
        sent.push({ to, msg, atMs: clock.nowMs(), withCert: o?.withCert === true });
      },
      ...(options.hasLinkKey ? { hasLinkKey: options.hasLinkKey } : {}),
      on(_event, l) {
        listener = l;
        return () => (listener = undefined);
      },
    },
    tunnels: () => tunnels,
    babel: {
      async suspendInterface(ifName) {
        calls.push(`babel flush ${ifName}`);
      },
      async resumeInterface(ifName) {
        calls.push(`babel add ${ifName}`);
      },
    },
    manager: {
      setLinkDown: (peer, reason) => calls.push(`down ${peer} ${reason}`),
      setLinkUp: (peer) => calls.push(`up ${peer}`),
    },
    supervisor: {
      async restart(name) {
        calls.push(`restart ${name}`);
      },
    },
    settings: () => settings,
    defaultPeerPort: () => 1194,
    ...(options.lateness ? { lateness: options.lateness } : {}),
    ...(options.pressurePct ? { pressure: { someAvg10Pct: options.pressurePct } } : {}),
    ...beatDeps,
  });
  const LINK = `${linkLocalFor(B)}%${IF_B}`;
  /** An authenticated frame from B, by default a link hello over the tunnel. */
  const fromB = (msg: PeerMessage, host = LINK, port = 2194) => listener?.({ from: { prefix: B, serial: '2b', host, port }, msg });
  const helloFromB = (host = LINK, port = 2194) => fromB({ kind: 'hello', myTimestampMs: clock.nowMs() }, host, port);
  monitor.start();
  return { clock, events, sent, calls, tunnels, settings, monitor, fromB, helloFromB, counters, beats, forgotten };
}

export type LinkFixture = ReturnType<typeof setup>;

/** The peer's link hello: it takes beats and probes (this version), plus `extra`. */
export function peerHello(f: LinkFixture, extra: Record<string, unknown> = {}): void {
  f.fromB({ kind: 'hello', myTimestampMs: f.clock.nowMs(), takesBeats: true, probes: true, ...extra });
}

/** Our hellos marked `busy` (asking the peer for the close watch). */
export const busyHellos = (f: LinkFixture) => f.sent.filter((s) => s.msg.busy === true);
