// Link liveness with detour routes and the peer's "down" notice: a lost link
// gets detours before babel drops it; the peer's notice (its openvpn end exited)
// loses the link at once; hellos restore it and release the detours.
import test from 'ava';
import { pino } from 'pino';
import { EventLog } from '../../../daemon/events.js';
import { linkLocalFor } from '../../../daemon/identity.js';
import type { Incoming } from '../../../daemon/peerproto/protocol.js';
import { LinkMonitor, type MonitoredTunnel } from '../../../daemon/tunnels/link-monitor.js';
import { FakeClock } from '../../fakes/fake-clock.js';

const B = 'fd00:1:0:2::/64';
const IF_B = 'rnb000000000000';

function setup() {
  const clock = new FakeClock(1_000_000);
  const events = new EventLog({ clock });
  let helloListener: ((ev: Incoming) => unknown) | undefined;
  const calls: string[] = [];
  const tunnels: MonitoredTunnel[] = [{ peer: B, ifName: IF_B, childName: `openvpn to ${B}`, openedAtMs: 1_000_000, everUp: true }];
  const monitor = new LinkMonitor({
    clock,
    log: pino({ level: 'silent' }),
    events,
    peerproto: {
      send: async () => undefined,
      on(_event, listener) {
        helloListener = listener;
        return () => (helloListener = undefined);
      },
    },
    tunnels: () => tunnels,
    babel: {
      suspendInterface: async (i) => void calls.push(`babel flush ${i}`),
      resumeInterface: async (i) => void calls.push(`babel add ${i}`),
    },
    manager: {
      setLinkDown: (peer) => void calls.push(`down ${peer}`),
      setLinkUp: (peer) => void calls.push(`up ${peer}`),
    },
    detours: {
      cover: async (i, reason) => void calls.push(`detour ${i} (${reason})`),
      release: (i) => void calls.push(`release ${i}`),
    },
    supervisor: { restart: async (name) => void calls.push(`restart ${name}`) },
    settings: () => ({ helloIntervalSec: 0.25, misses: 4 }),
    defaultPeerPort: () => 1194,
  });
  const helloFromB = () => helloListener?.({ from: { prefix: B, serial: '2b', host: `${linkLocalFor(B)}%${IF_B}`, port: 1194 }, msg: { kind: 'hello', myTimestampMs: clock.nowMs() } });
  monitor.start();
  return { clock, events, calls, monitor, helloFromB };
}

test('a lost link: detours, then the babel flush; the tunnel is down', async (t) => {
  const s = setup();
  await s.clock.advance(10);
  s.helloFromB();
  await s.clock.advance(1_000);
  t.deepEqual(s.calls, [`detour ${IF_B} (link lost: nothing heard for 1.0 s)`, `down ${B}`, `babel flush ${IF_B}`]);
  s.calls.length = 0;
  s.helloFromB();
  await s.clock.advance(0);
  t.deepEqual(s.calls, [`babel add ${IF_B}`, `release ${IF_B}`, `up ${B}`]);
});

test("the peer's down notice loses the link at once; its next hello restores it", async (t) => {
  const s = setup();
  s.monitor.peerSaysDown(B, "the peer's end stopped");
  t.deepEqual(s.calls, [], 'no hello yet: nothing to lose');
  await s.clock.advance(10);
  s.helloFromB();
  await s.clock.advance(100);
  s.monitor.peerSaysDown(B, "the peer's end stopped");
  await s.clock.advance(0);
  t.deepEqual(s.calls, [`detour ${IF_B} (link lost: the peer's end stopped)`, `down ${B}`, `babel flush ${IF_B}`]);
  t.deepEqual(s.events.list().map((e) => e.text), [`link with ${B} lost (the peer's end stopped; flaps: 0)`]);
  t.is(s.monitor.views()[0]!.phase, 'lost');
  s.monitor.peerSaysDown(B, 'again');
  t.is(s.events.list().length, 1, 'already lost');
  s.helloFromB();
  t.is(s.monitor.views()[0]!.phase, 'alive');
  t.is(s.events.list().at(-1)!.text, `link with ${B} restored after 0.0 s (flaps: 1)`);
  t.is(s.monitor.flaps(B), 1);
});
