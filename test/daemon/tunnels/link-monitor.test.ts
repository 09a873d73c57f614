// The link monitor on a fake clock: hellos out, the peer's frames in (through the
// peer protocol's 'authenticated' event), verdicts, and this host's own timer
// lateness (a clock whose timers can be made to fire late, like a starved loop).
import test from 'ava';
import { linkLocalFor } from '../../../daemon/identity.js';
import { scopeOf } from '../../../daemon/tunnels/link-monitor.js';
import { B, IF_B, setup } from './link-monitor-fixture.js';

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

test('every 4th hello carries our certificate while the peer lacks it; none while it holds it (link MACs)', async (t) => {
  let peerHolds = false;
  const { clock, sent } = setup({ hasLinkKey: () => peerHolds });
  await clock.advance(1_750);
  t.deepEqual(sent.map((s) => s.withCert), [true, false, false, false, true, false, false, false]);
  peerHolds = true;
  await clock.advance(2_000);
  t.deepEqual(sent.slice(8).map((s) => s.withCert), [false, false, false, false, false, false, false, false]);
  peerHolds = false; // it restarted and said so
  await clock.advance(1_000);
  t.deepEqual(sent.slice(16).map((s) => s.withCert), [true, false, false, false]);
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
  t.deepEqual(events.list().map((e) => e.text), [`link with ${B} lost (nothing heard for 1.0 s; flaps: 0)`]);
  t.deepEqual(calls, [`babel flush ${IF_B}`, `down ${B} nothing heard for 1.0 s`]);
  t.is(monitor.views()[0]!.phase, 'lost');

  await clock.advance(2_000);
  helloFromB();
  t.deepEqual(events.list().map((e) => e.text), [`link with ${B} lost (nothing heard for 1.0 s; flaps: 0)`, `link with ${B} restored after 2.0 s (flaps: 1)`]);
  t.deepEqual(calls.slice(2), [`babel add ${IF_B}`, `up ${B}`]);
  t.like(monitor.views()[0], { phase: 'alive', flaps: 1, lastHeardMs: clock.nowMs() });
  t.is(monitor.flaps(B), 1);
  t.is(monitor.flaps('fd00:1:0:9::/64'), undefined);

  // Lost again: the 3 s gap it came back from is allowed for a while (fading); the event says how
  // often it flapped before and by how much the deadline was widened.
  await clock.advance(1_000);
  t.regex(events.list().at(-1)!.text, /restored/);
  await clock.advance(3_000);
  t.regex(events.list().at(-1)!.text, new RegExp(`^link with ${B.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} lost \\(nothing heard for 3\\.\\d s, deadline widened by 2\\.\\d s for late timers and past stalls; flaps: 1\\)$`));
  monitor.stop();
});

test('a tunnel already known down (the peer closed its end) goes quiet: babel and the manager follow, but no second "lost" event', async (t) => {
  const { clock, events, calls, monitor, helloFromB, tunnels } = setup();
  for (let i = 0; i < 4; i++) {
    await clock.advance(250);
    helloFromB();
  }
  // What the manager does when openvpn says the peer closed its end (its own "lost" event).
  tunnels[0] = { ...tunnels[0]!, downSinceMs: clock.nowMs() };
  await clock.advance(1_000);
  t.is(monitor.views()[0]!.phase, 'lost');
  t.deepEqual(calls, [`babel flush ${IF_B}`, `down ${B} nothing heard for 1.0 s`]);
  t.deepEqual(events.list(), []);
  monitor.stop();
});

test('a link this host bounces on purpose (babel cost change) is not lost for the silence; a cut after it still is', async (t) => {
  const { clock, calls, monitor, helloFromB } = setup();
  await clock.advance(100);
  helloFromB();
  monitor.plannedSilence(IF_B, true);
  await clock.advance(3_000); // a slow bounce on a loaded host: 3 s without a frame
  t.deepEqual(calls, []);
  t.is(monitor.views()[0]!.phase, 'alive');
  monitor.plannedSilence(IF_B, false);
  await clock.advance(999);
  t.deepEqual(calls, []);
  await clock.advance(1);
  t.deepEqual(calls, [`babel flush ${IF_B}`, `down ${B} nothing heard for 1.0 s`]);
});

test('a link lost for 5 s gets its openvpn end restarted, then after 30 s', async (t) => {
  const { clock, calls, monitor, helloFromB } = setup();
  helloFromB();
  await clock.advance(1_000);
  t.true(calls.includes(`down ${B} nothing heard for 1.0 s`));
  await clock.advance(4_999);
  t.false(calls.includes(`restart openvpn to ${B}`));
  await clock.advance(1);
  t.is(calls.filter((c) => c.startsWith('restart')).length, 1);
  await clock.advance(30_000);
  t.is(calls.filter((c) => c.startsWith('restart')).length, 2);
  monitor.stop();
});

test('a lost link whose server end is ours: restarted only after 20 s (the client restarts at 5 s), then backing off', async (t) => {
  const { clock, calls, monitor, helloFromB, tunnels } = setup();
  tunnels[0] = { ...tunnels[0]!, childName: `openvpn from ${B}`, direction: 'incoming' };
  helloFromB();
  await clock.advance(1_000);
  t.true(calls.includes(`down ${B} nothing heard for 1.0 s`));
  await clock.advance(19_999);
  t.deepEqual(calls.filter((c) => c.startsWith('restart')), []);
  await clock.advance(1);
  t.deepEqual(calls.filter((c) => c.startsWith('restart')), [`restart openvpn from ${B}`]);
  await clock.advance(30_000);
  t.is(calls.filter((c) => c.startsWith('restart')).length, 2);
  monitor.stop();
});

test('frames that did not come over the tunnel do not count', async (t) => {
  const { clock, events, monitor, helloFromB } = setup();
  helloFromB();
  for (let i = 0; i < 8; i++) {
    await clock.advance(250);
    helloFromB('fd00:1:0:2::1', 1194); // gossip over the overlay
    helloFromB(`${linkLocalFor(B)}%rnother00000000`);
  }
  t.deepEqual(events.list().map((e) => e.text), [`link with ${B} lost (nothing heard for 1.0 s; flaps: 0)`]);
  monitor.stop();
});

test('any authenticated frame over the tunnel is life, not only hellos', async (t) => {
  const { clock, events, monitor, fromB, helloFromB } = setup();
  helloFromB();
  for (let i = 0; i < 12; i++) {
    await clock.advance(250);
    fromB({ kind: 'addresses', public: [], internal: [], upnp: [] });
  }
  t.deepEqual(events.list(), []);
  t.is(monitor.views()[0]!.phase, 'alive');
  monitor.stop();
});

test('starvation: this host\'s timers run 2 s late, then it reads a burst of the peer\'s hellos: no loss', async (t) => {
  const { clock, events, calls, sent, monitor, helloFromB } = setup();
  for (let i = 0; i < 6; i++) {
    helloFromB();
    await clock.advance(250);
  }
  // Nothing runs for 2 s; the next tick fires 2 s late and comes before the queued packets.
  clock.stall(2_000);
  await clock.advance(250);
  for (let i = 0; i < 8; i++) helloFromB();
  for (let i = 0; i < 12; i++) {
    await clock.advance(250);
    helloFromB();
  }
  t.deepEqual(events.list(), []);
  t.deepEqual(calls, []);
  t.like(monitor.views()[0], { phase: 'alive', flaps: 0 });
  // Its hellos tell the peer how late it ran (2 s, fading).
  const late = sent.map((s) => s.msg.lateMs ?? 0);
  const first = late.findIndex((l) => l > 0);
  t.is(first, 7, `on time at first (0 … 1500 ms): ${late.join(',')}`);
  t.is(late[first], 2_000);
  const lastAtS = (sent.at(-1)!.atMs - sent[first]!.atMs) / 1000;
  t.is(late.at(-1), Math.round(2_000 * (1 - lastAtS / 30)), `fading: ${lastAtS} s later`);
  monitor.stop();
});

test('a starved host sends its hellos less often while its lateness lasts, and every 250 ms again once it faded', async (t) => {
  const { clock, sent, monitor, helloFromB } = setup();
  for (let i = 0; i < 4; i++) {
    helloFromB();
    await clock.advance(250);
  }
  clock.stall(2_000);
  const stallEndMs = clock.nowMs();
  for (let i = 0; i < 160; i++) {
    helloFromB();
    await clock.advance(250);
  }
  const gaps = (fromMs: number, toMs: number) => {
    const at = sent.map((s) => s.atMs).filter((ms) => ms >= fromMs && ms <= toMs);
    return at.slice(1).map((ms, i) => ms - at[i]!);
  };
  // 2 s late: 250 + 2 × 1975 / 4 ms; the gaps shrink as the lateness fades over 30 s.
  const during = gaps(stallEndMs, stallEndMs + 10_000);
  t.true(during[0]! >= 1_000 && during[0]! <= 1_250, `first gap after the stall: ${during.join(',')}`);
  t.true(during.every((g, i) => i === 0 || g <= during[i - 1]!), `shrinking: ${during.join(',')}`);
  t.deepEqual([...new Set(gaps(stallEndMs + 31_000, clock.nowMs()))], [250]);
  t.like(monitor.views()[0], { phase: 'alive', flaps: 0, helloEveryMs: 250, helloSlowed: false });
  monitor.stop();
});

test('a real cut on a starved host is still found, a little later', async (t) => {
  const { clock, events, monitor, helloFromB } = setup();
  helloFromB();
  await clock.advance(250);
  clock.stall(2_000);
  const cutAtMs = clock.nowMs();
  await clock.advance(10_000);
  const lost = events.list();
  t.is(lost.length, 1);
  t.regex(lost[0]!.text, /lost \(nothing heard for \d\.\d s, deadline widened by \d\.\d s for late timers and past stalls; flaps: 0\)/);
  t.true(lost[0]!.atMs - cutAtMs <= 4_250, `lost ${lost[0]!.atMs - cutAtMs} ms after the cut`);
  monitor.stop();
});

test('a peer that says it runs late gets a wider deadline', async (t) => {
  const { clock, events, monitor, fromB } = setup();
  fromB({ kind: 'hello', myTimestampMs: 1, lateMs: 500 });
  await clock.advance(1_500);
  t.deepEqual(events.list(), [], 'deadline 1 s + 2 × (500 − 25) ms ≈ 1.95 s');
  await clock.advance(500);
  t.regex(events.list()[0]!.text, /deadline widened by 0\.9 s/);
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

test('each tick tells the host\'s lateness meter how late it fired', async (t) => {
  const noted: number[] = [];
  const { clock, monitor } = setup({ lateness: { noteTick: (ms) => noted.push(ms) } });
  await clock.advance(500);
  clock.stall(1_500);
  await clock.advance(250);
  t.deepEqual(noted, [0, 0, 0, 1_500], 'on time, then 1.5 s late once');
  monitor.stop();
});

test('a host whose CPUs are saturated (pressure 100 %) widens its deadline to the cap, says so in its hellos, sends them less often; a cut is still found', async (t) => {
  let pressure = 100;
  const { clock, sent, events, monitor, fromB } = setup({ pressurePct: () => pressure });
  const hello = () => fromB({ kind: 'hello', myTimestampMs: clock.nowMs() });
  hello();
  await clock.advance(250);
  // 100 %: counts as 4 s late (half the 8 s cap), so hellos go out every 250 + 2 × (4,000 − 25) / 4 ms.
  t.is(sent.at(-1)!.msg.lateMs, 4_000);
  t.like(monitor.views()[0], { helloEveryMs: 2_237, helloSlowed: true });
  // Silent for 8 s: the deadline is widened to 1 s + 2 × (4,000 − 25) ms = 8.95 s, not lost yet.
  await clock.advance(8_000);
  t.deepEqual(events.list(), []);
  hello();
  // Silent again: lost once the widened deadline passed.
  await clock.advance(9_500);
  t.regex(events.list()[0]?.text ?? '', /lost \(nothing heard for (8\.9|9\.\d) s, deadline widened by 8\.0 s/);
  // Pressure back to ordinary: the plain interval and deadline again.
  pressure = 70;
  hello();
  await clock.advance(1_000);
  t.like(monitor.views()[0], { phase: 'alive', helloEveryMs: 250, helloSlowed: false });
  t.is(sent.at(-1)!.msg.lateMs, undefined);
  monitor.stop();
});
