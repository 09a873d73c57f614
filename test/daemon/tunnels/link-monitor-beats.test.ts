// Link beats: once both ends are alive and the peer said it takes them, bare beats
// replace the hellos but one signed every 10 s; the peer's packets are counted on the
// tunnel interface. A lost link is restored only by a signed frame.
import test from 'ava';
import { B, IF_B, setup } from './link-monitor-fixture.js';

/** `rounds` hello intervals pass, the peer's beats counted on our interface in each. */
async function peerBeats(f: ReturnType<typeof setup>, rounds: number): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    f.counters.rxPackets++;
    await f.clock.advance(250);
  }
}

/** The peer's link hello saying it takes beats. */
function beatingPeer(f: ReturnType<typeof setup>) {
  return () => f.fromB({ kind: 'hello', myTimestampMs: f.clock.nowMs(), takesBeats: true });
}

test('signed hellos (saying we take beats) until the peer says it takes them too; then beats, and a signed hello every 10 s', async (t) => {
  const f = setup({ beats: true });
  await f.clock.advance(750);
  t.is(f.sent.length, 4);
  t.true(f.sent.every((s) => s.msg.takesBeats === true));
  t.is(f.beats.length, 0);
  beatingPeer(f)();
  const signedBefore = f.sent.length;
  // The peer's packets keep coming (its beats, counted on our interface).
  await peerBeats(f, 40);
  t.true(f.beats.length >= 36, `beats: ${f.beats.length}`);
  t.true(f.beats.every((b) => b.ifName === IF_B));
  // 10 s of beats: one signed hello, the periodic one.
  t.is(f.sent.length - signedBefore, 1);
  t.false(f.calls.some((c) => c.startsWith('down')), 'the counted packets kept the link alive');
});

test('a peer that does not say it takes beats (an older daemon) gets signed hellos only', async (t) => {
  const f = setup({ beats: true });
  f.helloFromB();
  for (let i = 0; i < 8; i++) {
    f.helloFromB();
    await f.clock.advance(250);
  }
  t.is(f.beats.length, 0);
  t.true(f.sent.length >= 8);
});

test('the counters stop rising: lost after the deadline; packets counted while lost do not restore it, a signed frame does', async (t) => {
  const f = setup({ beats: true });
  const peer = beatingPeer(f);
  peer();
  await peerBeats(f, 8);
  t.deepEqual(f.calls, []);
  await f.clock.advance(1_500);
  t.true(f.calls.includes(`down ${B} nothing heard for 1.0 s`), f.calls.join('; '));
  // The peer's daemon is frozen: its babeld's packets still cross now and then.
  const hellosWhileLost = f.sent.length;
  for (let i = 0; i < 8; i++) {
    f.counters.rxPackets += 3;
    await f.clock.advance(500);
  }
  t.false(f.calls.includes(`up ${B}`));
  t.true(f.sent.length - hellosWhileLost >= 12, 'a lost link gets signed hellos every interval');
  peer();
  t.true(f.calls.includes(`up ${B}`));
});

test('a signed hello from the peer is answered at once when ours is older than two intervals', async (t) => {
  const f = setup({ beats: true });
  const peer = beatingPeer(f);
  peer();
  await peerBeats(f, 12);
  const before = f.sent.length;
  peer(); // the peer lost the link and asks: only a signed frame restores it there
  t.is(f.sent.length, before + 1);
  peer(); // a second one right after: ours just went out
  t.is(f.sent.length, before + 1);
});

test('packets of ours besides the beats (babel, traffic) replace the beat of that round', async (t) => {
  const f = setup({ beats: true });
  beatingPeer(f)();
  await peerBeats(f, 4);
  const beats = f.beats.length;
  for (let i = 0; i < 8; i++) {
    f.counters.rxPackets++;
    f.counters.txPackets += 2; // traffic leaves on the tunnel
    await f.clock.advance(250);
  }
  t.is(f.beats.length, beats);
});

test('beats off in the settings (link_beats = false): signed hellos, without the flag', async (t) => {
  const f = setup({ beats: true });
  f.settings.beats = false;
  beatingPeer(f)();
  for (let i = 0; i < 8; i++) {
    f.counters.rxPackets++;
    beatingPeer(f)();
    await f.clock.advance(250);
  }
  t.is(f.beats.length, 0);
  t.true(f.sent.length >= 8);
  t.true(f.sent.every((s) => s.msg.takesBeats === undefined));
});

test('a reopened tunnel (same interface name) gets a new beat socket and signed hellos until the peer says it takes beats again', async (t) => {
  const f = setup({ beats: true });
  beatingPeer(f)();
  await f.clock.advance(500);
  f.tunnels[0] = { ...f.tunnels[0]!, openedAtMs: f.clock.nowMs() };
  const sentBefore = f.sent.length;
  const beatsBefore = f.beats.length;
  await f.clock.advance(1_000);
  t.deepEqual(f.forgotten, [IF_B]);
  t.is(f.beats.length, beatsBefore);
  t.true(f.sent.length - sentBefore >= 4);
});

test('a host whose timers ran late says so once in a signed hello, then beats again while that lateness fades', async (t) => {
  const f = setup({ beats: true });
  const peer = beatingPeer(f);
  peer();
  await peerBeats(f, 4);
  const before = f.sent.length;
  f.clock.stall(400); // the next tick fires 400 ms late
  await peerBeats(f, 12);
  const told = f.sent.slice(before);
  t.is(told.length, 1, 'one signed hello carries the lateness');
  t.true((told[0]!.msg.lateMs ?? 0) >= 400);
  t.false(f.calls.some((c) => c.startsWith('down')));
});

test('a beat sender that throws does not stop the round: verdicts are still made', async (t) => {
  const f = setup({
    beats: true,
    beatSend: () => {
      throw new Error('not connected');
    },
  });
  beatingPeer(f)();
  await peerBeats(f, 4);
  await f.clock.advance(1_500);
  t.true(f.calls.includes(`down ${B} nothing heard for 1.0 s`), f.calls.join('; '));
});

test('a beat socket not ready yet: a signed hello goes instead', async (t) => {
  const f = setup({ beats: true, beatSend: () => false });
  beatingPeer(f)();
  const before = f.sent.length;
  await peerBeats(f, 4);
  t.is(f.beats.length, 0);
  t.true(f.sent.length - before >= 4);
});

test('beats that a slow openvpn reads late, two at once, do not pass for other traffic: no beat is skipped', async (t) => {
  const f = setup({ beats: true, beatTxByTest: true });
  beatingPeer(f)();
  for (let i = 0; i < 12; i++) {
    f.counters.rxPackets++;
    // openvpn reads our beats every other round only, two at once.
    if (i % 2 === 0) f.counters.txPackets = f.beats.length;
    await f.clock.advance(250);
  }
  const gaps = f.beats.slice(1).map((b, i) => b.atMs - f.beats[i]!.atMs);
  t.true(f.beats.length >= 10, `beats: ${f.beats.length}`);
  t.true(gaps.every((g) => g <= 250), `gaps: ${gaps.join(', ')}`);
});

test('three beats missed: one probe one interval before the deadline; the answer keeps the link', async (t) => {
  const f = setup({ beats: true });
  const peer = beatingPeer(f);
  peer();
  await peerBeats(f, 12);
  const heardAtMs = f.clock.nowMs(); // the round that just ended counted its last beat
  const signedBefore = f.sent.length;
  await f.clock.advance(500);
  t.is(f.sent.length, signedBefore, 'no probe while beats may still come');
  await f.clock.advance(250);
  const probes = f.sent.slice(signedBefore);
  t.is(probes.length, 1);
  t.is(probes[0]!.atMs - heardAtMs, 750);
  peer(); // its answer
  await peerBeats(f, 8);
  t.false(f.calls.some((c) => c.startsWith('down')), f.calls.join('; '));
});

test('silent to the probe too: lost at the deadline, after one probe', async (t) => {
  const f = setup({ beats: true });
  beatingPeer(f)();
  await peerBeats(f, 12);
  const signedBefore = f.sent.length;
  await f.clock.advance(1_000);
  t.true(f.calls.includes(`down ${B} nothing heard for 1.0 s`), f.calls.join('; '));
  t.is(f.sent.length - signedBefore, 1, 'one probe, then the verdict');
});

test('a peer beating every interval: no probe; only the periodic signed hello', async (t) => {
  const f = setup({ beats: true });
  beatingPeer(f)();
  await peerBeats(f, 2);
  const signedBefore = f.sent.length;
  await peerBeats(f, 40);
  t.is(f.sent.length - signedBefore, 1, 'the one signed hello of 10 s');
  t.false(f.calls.some((c) => c.startsWith('down')));
});
