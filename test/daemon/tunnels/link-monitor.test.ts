import test from 'ava';
import { pino } from 'pino';
import { EventLog } from '../../../daemon/events.js';
import { linkLocalFor } from '../../../daemon/identity.js';
import type { HelloEvent, PeerAddress } from '../../../daemon/peerproto/protocol.js';
import { LinkMonitor, scopeOf, type MonitoredTunnel } from '../../../daemon/tunnels/link-monitor.js';
import type { HelloMessage } from '../../../wire/messages.js';
import { FakeClock } from '../../fakes/fake-clock.js';

const B = 'fd00:1:0:2::/64';
const IF_B = 'rnb000000000000';

function setup(options: { helloIntervalSec?: number } = {}) {
  const clock = new FakeClock(1_000_000);
  const events = new EventLog({ clock });
  const sent: Array<{ to: PeerAddress; msg: HelloMessage; atMs: number }> = [];
  let helloListener: ((ev: HelloEvent) => unknown) | undefined;
  const calls: string[] = [];
  const tunnels: MonitoredTunnel[] = [{ peer: B, ifName: IF_B, childName: `openvpn to ${B}`, openedAtMs: 1_000_000, everUp: true }];
  const settings = { helloIntervalSec: options.helloIntervalSec ?? 0.25, misses: 4 };
  const monitor = new LinkMonitor({
    clock,
    log: pino({ level: 'silent' }),
    events,
    peerproto: {
      async send(to, msg) {
        sent.push({ to, msg, atMs: clock.nowMs() });
      },
      on(_event, listener) {
        helloListener = listener;
        return () => (helloListener = undefined);
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
  });
  const helloFromB = (host = `${linkLocalFor(B)}%${IF_B}`, port = 2194) =>
    helloListener?.({ from: { prefix: B, serial: '2b', host, port }, msg: { kind: 'hello', myTimestampMs: clock.nowMs() } });
  monitor.start();
  return { clock, events, sent, calls, tunnels, settings, monitor, helloFromB };
}

test('sends a hello to the peer\'s link-local address on the tunnel every 250 ms', async (t) => {
  const { clock, sent, monitor } = setup();
  await clock.advance(1_000);
  t.deepEqual(sent.map((s) => s.atMs - 1_000_000), [0, 250, 500, 750, 1_000]);
  t.deepEqual(sent[0]!.to, { host: `${linkLocalFor(B)}%${IF_B}`, port: 1194, prefix: B });
  t.is(sent[0]!.msg.kind, 'hello');
  monitor.stop();
  await clock.advance(1_000);
  t.is(sent.length, 5);
  t.is(clock.pendingTimers(), 0);
});

test('no hello for 1 s: lost at once (event, babel flush, tunnel down); hellos again: restored', async (t) => {
  const { clock, events, calls, monitor, helloFromB } = setup();
  await clock.advance(100);
  helloFromB();
  for (let i = 0; i < 8; i++) {
    await clock.advance(250);
    helloFromB();
  }
  t.deepEqual(calls, []);
  t.is(monitor.views()[0]!.phase, 'alive');
  const lastHelloMs = clock.nowMs();
  await clock.advance(999);
  t.deepEqual(calls, []);
  await clock.advance(1);
  t.is(clock.nowMs() - lastHelloMs, 1_000);
  t.deepEqual(events.list().map((e) => e.text), [`link with ${B} lost (no hello for 1.0 s)`]);
  t.deepEqual(calls, [`babel flush ${IF_B}`, `down ${B} no hello for 1.0 s`]);
  t.is(monitor.views()[0]!.phase, 'lost');

  await clock.advance(2_000);
  helloFromB();
  t.deepEqual(events.list().map((e) => e.text), [`link with ${B} lost (no hello for 1.0 s)`, `link with ${B} restored`]);
  t.deepEqual(calls.slice(2), [`babel add ${IF_B}`, `up ${B}`]);
  t.is(monitor.views()[0]!.phase, 'alive');
  monitor.stop();
});

test('a link lost for 5 s gets its openvpn end restarted, then every 30 s', async (t) => {
  const { clock, calls, monitor, helloFromB } = setup();
  helloFromB();
  await clock.advance(1_000);
  t.true(calls.includes(`down ${B} no hello for 1.0 s`));
  await clock.advance(4_999);
  t.false(calls.includes(`restart openvpn to ${B}`));
  await clock.advance(1);
  t.is(calls.filter((c) => c.startsWith('restart')).length, 1);
  await clock.advance(30_000);
  t.is(calls.filter((c) => c.startsWith('restart')).length, 2);
  monitor.stop();
});

test('hellos that are not link hellos, or come over another interface, do not count', async (t) => {
  const { clock, events, monitor, helloFromB } = setup();
  helloFromB();
  for (let i = 0; i < 8; i++) {
    await clock.advance(250);
    helloFromB('fd00:1:0:2::1', 1194); // gossip over the overlay
    helloFromB(`${linkLocalFor(B)}%rnother00000000`);
  }
  t.deepEqual(events.list().map((e) => e.text), [`link with ${B} lost (no hello for 1.0 s)`]);
  monitor.stop();
});

test('the peer\'s port is learned from its link hellos', async (t) => {
  const { clock, sent, monitor, helloFromB } = setup();
  helloFromB(undefined, 2194);
  await clock.advance(250);
  t.is(sent.at(-1)!.to.port, 2194);
  t.is(monitor.peerPort(B), 2194);
  monitor.stop();
});

test('a tunnel that never came up is not watched; a closed one is forgotten', async (t) => {
  const { clock, sent, tunnels, monitor } = setup();
  tunnels[0] = { ...tunnels[0]!, everUp: false };
  await clock.advance(1_000);
  t.is(sent.length, 0);
  tunnels.length = 0;
  await clock.advance(1_000);
  t.deepEqual(monitor.views(), []);
  monitor.stop();
});

test('liveness off (interval 0): no hellos, and a lost link is given back to babel', async (t) => {
  const { clock, sent, calls, settings, monitor, helloFromB } = setup();
  helloFromB();
  await clock.advance(1_000);
  t.true(calls.includes(`babel flush ${IF_B}`));
  settings.helloIntervalSec = 0;
  await clock.advance(500);
  const count = sent.length;
  t.true(calls.includes(`babel add ${IF_B}`));
  await clock.advance(5_000);
  t.is(sent.length, count);
  t.deepEqual(monitor.views(), []);
  monitor.stop();
});

test('scopeOf: only scoped link-local sources', (t) => {
  t.is(scopeOf('fe80::1%rn0123'), 'rn0123');
  t.is(scopeOf('fd00::1'), undefined);
  t.is(scopeOf('fe80::1'), undefined);
  t.is(scopeOf('10.0.0.1'), undefined);
});
