// A link that carries our traffic is watched closely: the peer, told once, beats every
// fifth of an interval while our packets arrive, and its silence is a verdict after
// 0.2 s, not 1 s. Nothing changes on an idle link.
import test from 'ava';
import { B, busyHellos, peerHello, setup, type LinkFixture as Fixture } from './link-monitor-fixture.js';

/** `ms` pass in 50 ms steps: in each, we send `tx` packets and `rx` packets of `rxBytes` each arrive. */
async function flow(f: Fixture, ms: number, o: { tx: number; rx: number; rxBytes?: number }): Promise<void> {
  for (let i = 0; i < ms / 50; i++) {
    f.counters.txPackets += o.tx;
    f.counters.rxPackets += o.rx;
    f.counters.rxBytes += o.rx * (o.rxBytes ?? 104);
    await f.clock.advance(50);
  }
}

/** A 20 Hz flow of ours over the link, told to the peer and answered: the link is watched closely. */
async function watchedFlow(): Promise<Fixture> {
  const f = setup({ beats: true });
  peerHello(f);
  for (let i = 0; i < 20 && busyHellos(f).length === 0; i++) await flow(f, 50, { tx: 1, rx: 1 });
  peerHello(f, { yourTimestampMs: busyHellos(f)[0]!.msg.myTimestampMs });
  await flow(f, 500, { tx: 1, rx: 1 });
  return f;
}

test('our 20 Hz flow over the link: the peer is told once; once it answered, its silence is a verdict after 0.2 s', async (t) => {
  const f = setup({ beats: true });
  peerHello(f);
  await flow(f, 500, { tx: 0, rx: 1, rxBytes: 48 }); // idle: beats
  t.is(busyHellos(f).length, 0, 'an idle link is not busy');
  // A ping and its replies: told once the flow lasted an interval.
  for (let i = 0; i < 20 && busyHellos(f).length === 0; i++) await flow(f, 50, { tx: 1, rx: 1 });
  t.is(busyHellos(f).length, 1);
  const told = busyHellos(f)[0]!;
  peerHello(f, { yourTimestampMs: told.msg.myTimestampMs }); // its answer
  await flow(f, 500, { tx: 1, rx: 1 });
  t.is(busyHellos(f).length, 1, 'answered: not told again');
  t.deepEqual(f.calls, []);
  const cutAtMs = f.clock.nowMs();
  await flow(f, 400, { tx: 1, rx: 0 }); // the tunnel goes silent under the flow
  const down = f.calls.find((c) => c.startsWith(`down ${B}`));
  t.is(down, `down ${B} nothing heard for 0.2 s`);
  t.true(f.clock.nowMs() - cutAtMs <= 400);
});

test('a frozen openvpn end under our flow: our packet count stops with the peer\'s, and the close watch still holds to its verdict', async (t) => {
  const f = await watchedFlow();
  t.true(f.monitor.views()[0]!.closely);
  await flow(f, 400, { tx: 0, rx: 0 }); // our end reads nothing more: the tx counter stands still too
  t.true(f.calls.includes(`down ${B} nothing heard for 0.2 s`), f.calls.join('; '));
});

test('our flow stops while the peer still beats: the link goes back to the idle deadline, no verdict', async (t) => {
  const f = await watchedFlow();
  await flow(f, 500, { tx: 0, rx: 1, rxBytes: 48 }); // its fast beats, for two intervals
  for (let i = 0; i < 8; i++) {
    // Then a beat every other interval.
    await flow(f, 50, { tx: 0, rx: 1, rxBytes: 48 });
    await flow(f, 450, { tx: 0, rx: 0 });
  }
  t.deepEqual(f.calls, []);
  t.false(f.monitor.views()[0]!.closely);
});

test('while this host runs late the close watch pauses: the idle deadline, no fast ticks (a starved host sheds work)', async (t) => {
  const f = await watchedFlow();
  t.true(f.monitor.views()[0]!.closely);
  f.clock.stall(400); // the next tick fires 400 ms late: lateness, fading over 30 s
  await flow(f, 500, { tx: 1, rx: 1 });
  t.false(f.monitor.views()[0]!.closely);
  await flow(f, 600, { tx: 1, rx: 0 }); // silent: the verdict waits for the (widened) idle deadline
  t.false(f.calls.some((c) => c.startsWith('down')), f.calls.join('; '));
});

test('a peer that does not answer the busy hello (an older daemon, or one under CPU pressure): told again 2 s later, and the verdict stays at 1 s', async (t) => {
  const f = setup({ beats: true });
  peerHello(f);
  await flow(f, 1_000, { tx: 1, rx: 1 });
  t.is(busyHellos(f).length, 1);
  await flow(f, 2_000, { tx: 1, rx: 1 });
  t.is(busyHellos(f).length, 2, 'again after 2 s');
  await flow(f, 600, { tx: 1, rx: 0 });
  t.false(f.calls.some((c) => c.startsWith('down')), '0.6 s of silence is not a verdict yet');
  await flow(f, 600, { tx: 1, rx: 0 });
  t.true(f.calls.includes(`down ${B} nothing heard for 1.0 s`), f.calls.join('; '));
});

test('told by the peer that its traffic crosses the link: answered with an echo, then a beat every 50 ms while its packets arrive, until they stop', async (t) => {
  const f = setup({ beats: true });
  peerHello(f);
  await flow(f, 1_000, { tx: 0, rx: 1, rxBytes: 48 });
  const before = f.sent.length;
  const askedAtMs = f.clock.nowMs();
  peerHello(f, { busy: true });
  t.is(f.sent.length, before + 1);
  t.is(f.sent.at(-1)!.msg.yourTimestampMs, askedAtMs, 'the answer echoes the busy hello');
  const beatsBefore = f.beats.length;
  await flow(f, 1_000, { tx: 0, rx: 1, rxBytes: 1_200 }); // a one-way stream from the peer
  const fast = f.beats.slice(beatsBefore);
  const gaps = fast.slice(1).map((b, i) => b.atMs - fast[i]!.atMs);
  t.true(fast.length >= 18, `beats in 1 s of the peer's stream: ${fast.length}; gaps ${gaps.join(' ')}`);
  t.true(gaps.every((g) => g <= 50), `gaps: ${gaps.join(' ')}`);
  // The stream stops: back to a beat every other interval.
  await flow(f, 500, { tx: 0, rx: 1, rxBytes: 48 });
  const calm = f.beats.length;
  await flow(f, 2_000, { tx: 0, rx: 1, rxBytes: 48 });
  t.true(f.beats.length - calm <= 5, `beats in 2 s after the stream: ${f.beats.length - calm}`);
});

test('while we answer a stream with traffic of our own, no beats: our packets stand in for them', async (t) => {
  const f = setup({ beats: true });
  peerHello(f);
  await flow(f, 500, { tx: 0, rx: 1, rxBytes: 48 });
  peerHello(f, { busy: true });
  const beatsBefore = f.beats.length;
  await flow(f, 1_000, { tx: 1, rx: 1, rxBytes: 1_200 });
  t.true(f.beats.length - beatsBefore <= 1, `beats: ${f.beats.length - beatsBefore}`);
});

test('under CPU pressure a host neither asks for the close watch nor grants it (its answer has no echo)', async (t) => {
  let pressure = 30;
  const f = setup({ beats: true, pressurePct: () => pressure });
  peerHello(f);
  await flow(f, 1_000, { tx: 1, rx: 1 });
  t.is(busyHellos(f).length, 0, 'not asked');
  const before = f.sent.length;
  peerHello(f, { busy: true, myTimestampMs: 4242 });
  const answers = f.sent.slice(before);
  t.is(answers.length, 1, 'answered as a probe is: the peer\'s question ends');
  t.is(answers[0]!.msg.yourTimestampMs, undefined, 'not granted: no echo');
  const beatsBefore = f.beats.length;
  await flow(f, 1_000, { tx: 0, rx: 1, rxBytes: 1_200 });
  t.true(f.beats.length - beatsBefore <= 3, `beats: ${f.beats.length - beatsBefore}`);
  pressure = 10;
  await flow(f, 500, { tx: 1, rx: 1 });
  t.is(busyHellos(f).length, 1, 'asked once the pressure is gone');
});

test('sparse traffic of ours (babel: a packet a second) does not make the link busy', async (t) => {
  const f = setup({ beats: true });
  peerHello(f);
  for (let i = 0; i < 10; i++) {
    await flow(f, 50, { tx: 1, rx: 1 });
    await flow(f, 950, { tx: 0, rx: 1, rxBytes: 48 });
  }
  t.is(busyHellos(f).length, 0);
});
