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

/** The peer's link hello saying it takes beats and probes before its verdict (this version). */
function probingPeer(f: ReturnType<typeof setup>) {
  return () => f.fromB({ kind: 'hello', myTimestampMs: f.clock.nowMs(), takesBeats: true, probes: true });
}

test('our hellos say we probe; a peer that says it probes gets a beat every other interval', async (t) => {
  const f = setup({ beats: true });
  await f.clock.advance(250);
  t.true(f.sent.length > 0 && f.sent.every((s) => s.msg.probes === true));
  probingPeer(f)();
  await peerBeats(f, 2);
  const before = f.beats.length;
  await peerBeats(f, 40);
  const beats = f.beats.slice(before);
  t.true(beats.length >= 19 && beats.length <= 21, `beats in 10 s: ${beats.length}`);
  // A beat every 500 ms; the periodic signed hello takes one beat's place (750 ms around it).
  const gaps = beats.slice(1).map((b, i) => b.atMs - beats[i]!.atMs);
  t.true(gaps.every((g) => g === 500 || g === 750) && gaps.filter((g) => g === 750).length <= 1, `gaps: ${gaps.join(' ')}`);
  t.false(f.calls.some((c) => c.startsWith('down')));
});

test('with fewer than four misses to the deadline our hellos do not say we probe: the peer keeps every beat', async (t) => {
  const f = setup({ beats: true });
  f.settings.misses = 3;
  await f.clock.advance(500);
  t.true(f.sent.length > 0 && f.sent.every((s) => s.msg.takesBeats === true && s.msg.probes === undefined));
});

test('a missed beat: a probe one interval before the deadline, marked as one; the answer keeps the link', async (t) => {
  const f = setup({ beats: true });
  const peer = probingPeer(f);
  peer();
  await peerBeats(f, 12);
  const heardAtMs = f.clock.nowMs(); // the round that just ended counted its last beat
  const signedBefore = f.sent.length;
  // The peer's next beat is lost: 750 ms of silence, then our probe.
  await f.clock.advance(500);
  t.is(f.sent.length, signedBefore, 'no probe while a beat may still come');
  await f.clock.advance(250);
  const probes = f.sent.slice(signedBefore);
  t.is(probes.length, 1);
  t.is(probes[0]!.atMs - heardAtMs, 750);
  t.true(probes[0]!.msg.probe, 'the peer is asked to answer now');
  peer(); // its answer
  await peerBeats(f, 8);
  t.false(f.calls.some((c) => c.startsWith('down')), f.calls.join('; '));
  t.is(f.sent.slice(signedBefore).filter((s) => s.msg.probe === true).length, 1, 'heard again: no more probes');
});

test('the first three probes unanswered: a fourth, a quarter interval after the third; its answer keeps the link', async (t) => {
  const f = setup({ beats: true });
  const peer = probingPeer(f);
  peer();
  await peerBeats(f, 12);
  const heardAtMs = f.clock.nowMs();
  const signedBefore = f.sent.length;
  await f.clock.advance(750 + 188);
  const probes = f.sent.slice(signedBefore).filter((s) => s.msg.probe === true);
  t.deepEqual(
    probes.map((p) => p.atMs - heardAtMs),
    [750, 813, 875, 938],
  );
  peer(); // the answer to the fourth
  await peerBeats(f, 8);
  t.false(f.calls.some((c) => c.startsWith('down')), f.calls.join('; '));
});

test('silent to every probe too: lost at the deadline, after four probes', async (t) => {
  const f = setup({ beats: true });
  probingPeer(f)();
  await peerBeats(f, 12);
  const signedBefore = f.sent.length;
  await f.clock.advance(1_000);
  t.true(f.calls.includes(`down ${B} nothing heard for 1.0 s`), f.calls.join('; '));
  const after = f.sent.slice(signedBefore);
  t.is(after.length, 4, 'four probes, then the verdict');
  t.true(after.every((s) => s.msg.probe === true));
});

test('a probe from the peer is answered at once with a signed hello and a beat, even right after our own signed hello; at most one answer an eighth of an interval', async (t) => {
  const f = setup({ beats: true });
  const peer = probingPeer(f);
  peer();
  await peerBeats(f, 12);
  const probe = () => f.fromB({ kind: 'hello', myTimestampMs: f.clock.nowMs(), takesBeats: true, probes: true, probe: true });
  const before = f.sent.length;
  const beatsBefore = f.beats.length;
  probe();
  t.is(f.sent.length, before + 1, 'answered');
  t.falsy(f.sent.at(-1)!.msg.probe, 'an answer does not ask for one');
  t.is(f.beats.length, beatsBefore + 1, 'and a beat: the answer is lost only when both are');
  probe(); // a second at once (a copy, or a peer gone wrong): not answered again
  t.is(f.sent.length, before + 1);
  await f.clock.advance(63);
  probe(); // the peer's next probe: the answer to the first may have been lost
  t.is(f.sent.length, before + 2);
});

test('a peer beating every other interval: no probe, no verdict; only the periodic signed hello', async (t) => {
  const f = setup({ beats: true });
  probingPeer(f)();
  await peerBeats(f, 2);
  const signedBefore = f.sent.length;
  for (let i = 0; i < 40; i++) {
    if (i % 2 === 0) f.counters.rxPackets++;
    await f.clock.advance(250);
  }
  t.is(f.sent.length - signedBefore, 1, 'the one signed hello of 10 s');
  t.false(f.calls.some((c) => c.startsWith('down')));
});

test('to a peer that probes, other traffic of ours in place of a beat: the next beat one interval later, not two', async (t) => {
  const f = setup({ beats: true });
  probingPeer(f)();
  await peerBeats(f, 4);
  // Our babeld (say) sends right after a beat: the round that follows sends no beat.
  while (f.beats.at(-1)!.atMs !== f.clock.nowMs()) await peerBeats(f, 1);
  await f.clock.advance(1);
  f.counters.txPackets++;
  const otherAtMs = f.clock.nowMs();
  await peerBeats(f, 6);
  const next = f.beats.find((b) => b.atMs > otherAtMs);
  t.truthy(next);
  t.true(next!.atMs - otherAtMs <= 750, `the peer heard nothing of ours for ${next!.atMs - otherAtMs} ms`);
});

test('to a peer that probes, while our timers run late: a beat every (stretched) cadence, not every other', async (t) => {
  const f = setup({ beats: true });
  probingPeer(f)();
  await peerBeats(f, 4);
  f.clock.stall(400); // the next tick fires 400 ms late: the cadence stretches while that fades
  await peerBeats(f, 1);
  const before = f.beats.length;
  await peerBeats(f, 16);
  const beats = f.beats.slice(before);
  const gaps = beats.slice(1).map((b, i) => b.atMs - beats[i]!.atMs);
  t.true(beats.length >= 8, `beats in 4 s: ${beats.length}`);
  t.true(gaps.every((g) => g < 500), `gaps: ${gaps.join(' ')}`);
  t.false(f.calls.some((c) => c.startsWith('down')));
});
