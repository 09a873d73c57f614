// The idle pace (tunnels.link_idle_pace): an idle link is lost only after that many times
// the deadline, our hellos say so, and a peer that says so gets that many times fewer beats.
// Traffic that starts over a dead idle link is still found in about a second: our `busy`
// hello is a question the peer answers at once, and the usual deadline runs from it.
import test from 'ava';
import { B, busyHellos, peerHello, setup, type LinkFixture as Fixture } from './link-monitor-fixture.js';

/** `ms` pass in 50 ms steps; in each we send `tx` packets, and the peer's beats arrive every `beatEveryMs` (0: none). */
async function run(f: Fixture, ms: number, o: { tx?: number; beatEveryMs?: number } = {}): Promise<void> {
  for (let i = 1; i <= ms / 50; i++) {
    f.counters.txPackets += o.tx ?? 0;
    if (o.beatEveryMs && (i * 50) % o.beatEveryMs === 0) {
      f.counters.rxPackets++;
      f.counters.rxBytes += 48;
    }
    await f.clock.advance(50);
  }
}

const downs = (f: Fixture) => f.calls.filter((c) => c.startsWith(`down ${B}`));
const probes = (f: Fixture) => f.sent.filter((s) => s.msg.probe === true);

test('idle pace 4: our hellos say so, a peer beating every 2 s keeps the idle link, and silence is a verdict after 4 s, probed first', async (t) => {
  const f = setup({ beats: true, idlePace: 4 });
  peerHello(f);
  await run(f, 300);
  t.true(f.sent.some((s) => s.msg.idlePace === 4), 'our hellos carry the pace');
  await run(f, 20_000, { beatEveryMs: 2_000 });
  t.deepEqual(downs(f), [], 'a beat every 2 s is enough');
  t.is(f.monitor.views()[0]!.deadlineMs, 4_000, 'status shows the idle deadline');
  t.is(probes(f).length, 0, 'no probes while the beats come');
  const silentFromMs = f.clock.nowMs();
  await run(f, 2_500);
  t.deepEqual(downs(f), [], 'not lost after 2.5 s of silence');
  await run(f, 2_500);
  t.is(downs(f).length, 1);
  t.regex(downs(f)[0]!, /nothing heard for 4\.\d s/);
  const firstProbe = probes(f)[0]!;
  t.true(firstProbe.atMs - silentFromMs >= 2_900, `first probe ${firstProbe.atMs - silentFromMs} ms into the silence`);
  t.is(probes(f).length, 4, 'probed four times first');
});

test('idle pace off (1): the same silence is a verdict after 1 s, as before', async (t) => {
  const f = setup({ beats: true, idlePace: 1 });
  peerHello(f);
  await run(f, 300);
  t.false(f.sent.some((s) => s.msg.idlePace !== undefined), 'no pace in our hellos');
  t.is(f.monitor.views()[0]!.deadlineMs, 1_000);
  await run(f, 1_500);
  t.is(downs(f).length, 1);
  t.regex(downs(f)[0]!, /nothing heard for 1\.\d s/);
});

test('a peer whose hellos say idle pace 4 gets a beat every 2 s while idle, every 50 ms while it says its traffic crosses the link, then every 2 s again', async (t) => {
  const f = setup({ beats: true });
  peerHello(f, { idlePace: 4 });
  await run(f, 1_000, { beatEveryMs: 500 }); // our side has no idle pace: the peer beats every other interval
  const idleFrom = f.beats.length;
  await run(f, 10_000, { beatEveryMs: 500 });
  const idleBeats = f.beats.length - idleFrom;
  t.true(idleBeats >= 4 && idleBeats <= 6, `beats in 10 idle seconds: ${idleBeats}`);
  // The peer's traffic arrives and it asks for the close watch.
  peerHello(f, { idlePace: 4, busy: true });
  const busyFrom = f.beats.length;
  for (let i = 0; i < 20; i++) {
    f.counters.rxPackets++;
    f.counters.rxBytes += 104;
    await f.clock.advance(50);
  }
  const busyBeats = f.beats.length - busyFrom;
  t.true(busyBeats >= 15, `beats in 1 s of the peer's traffic: ${busyBeats}`);
  await run(f, 2_000, { beatEveryMs: 500 }); // its traffic stopped: fast beats end
  const afterFrom = f.beats.length;
  await run(f, 10_000, { beatEveryMs: 500 });
  const afterBeats = f.beats.length - afterFrom;
  t.true(afterBeats >= 4 && afterBeats <= 6, `beats in 10 idle seconds after: ${afterBeats}`);
});

test('our traffic starts over an idle link whose peer is gone: lost about 1 s after our busy hello, not 4 s after the last beat', async (t) => {
  const f = setup({ beats: true, idlePace: 4 });
  peerHello(f);
  await run(f, 4_000, { beatEveryMs: 2_000 }); // the last beat arrives at the end of this
  const lastBeatMs = f.clock.nowMs();
  for (let i = 0; i < 40 && busyHellos(f).length === 0; i++) await run(f, 50, { tx: 1 });
  t.is(busyHellos(f).length, 1, 'told after an interval of our traffic');
  const toldMs = busyHellos(f)[0]!.atMs;
  t.is(f.monitor.views()[0]!.deadlineMs, 1_000, 'the usual deadline, from the busy hello');
  while (downs(f).length === 0 && f.clock.nowMs() - lastBeatMs < 5_000) await run(f, 50, { tx: 1 });
  t.is(downs(f).length, 1);
  const lostMs = f.clock.nowMs();
  t.true(lostMs - toldMs >= 1_000 && lostMs - toldMs <= 1_150, `lost ${lostMs - toldMs} ms after the busy hello`);
  t.true(lostMs - lastBeatMs < 4_000, `lost ${lostMs - lastBeatMs} ms after the last beat`);
  t.true(probes(f).length >= 1, 'probed before the verdict');
  const said = Number(/nothing heard for ([\d.]+) s/.exec(downs(f)[0]!)?.[1]);
  t.true(said >= (lostMs - toldMs) / 1000 - 0.05, `the verdict tells the whole silence: ${downs(f)[0]}`);
});

test('our traffic starts over an idle link whose peer answers without granting (CPU pressure there): no verdict, the idle deadline again', async (t) => {
  const f = setup({ beats: true, idlePace: 4 });
  peerHello(f);
  await run(f, 4_000, { beatEveryMs: 2_000 });
  // The peer answers each of our busy hellos and probes 20 ms later with a plain hello (no echo), and beats every 2 s.
  let answered = f.sent.length;
  for (let i = 1; i <= 100; i++) {
    const asked = f.sent.slice(answered).some((s) => s.msg.busy === true || s.msg.probe === true);
    answered = f.sent.length;
    f.counters.txPackets++;
    if (i % 40 === 0) f.counters.rxPackets++;
    await f.clock.advance(20);
    if (asked) peerHello(f);
    await f.clock.advance(30);
  }
  t.true(busyHellos(f).length >= 1, 'asked');
  t.deepEqual(downs(f), []);
  t.false(f.monitor.views()[0]!.closely, 'not granted');
});

test('while every link is idle and paced the monitor ticks once a paced interval (1 s); a flow of ours brings the quarter-second ticks back and asks for the close watch', async (t) => {
  let ticks = 0;
  const f = setup({ beats: true, idlePace: 4, lateness: { noteTick: () => void ticks++ } });
  peerHello(f, { idlePace: 4 }); // both ends paced: our beats go every 2 s too
  await run(f, 2_000, { beatEveryMs: 2_000 });
  ticks = 0;
  await run(f, 10_000, { beatEveryMs: 2_000 });
  t.true(ticks >= 9 && ticks <= 14, `ticks in 10 idle seconds: ${ticks}`);
  const flowFromMs = f.clock.nowMs();
  for (let i = 0; i < 60 && busyHellos(f).length === 0; i++) await run(f, 50, { tx: 1, beatEveryMs: 2_000 });
  t.is(busyHellos(f).length, 1);
  t.true(busyHellos(f)[0]!.atMs - flowFromMs <= 2_000, `asked ${busyHellos(f)[0]!.atMs - flowFromMs} ms into the flow`);
  ticks = 0;
  await run(f, 1_000, { tx: 1, beatEveryMs: 2_000 });
  t.true(ticks >= 4, `ticks in a second of flow: ${ticks}`);
});
