// A link that carries our traffic: when it counts as busy, when the peer is told, when
// the peer beats fast (pure).
import test from 'ava';
import { BUSY_MIN_PPS, BUSY_RETELL_INTERVALS, beatsFast, newBusyRun, noteSent, tellsPeer, watchedClosely, type BusyRun } from '../../../daemon/tunnels/busy-link.js';

/** `packets` sent in each of `rounds` reads 50 ms apart, from `startMs`; the peer heard at each read. */
function send(run: BusyRun, startMs: number, rounds: number, packets: number): BusyRun {
  let r = run;
  for (let i = 1; i <= rounds; i++) r = noteSent(r, startMs + i * 50, packets, 250, startMs + i * 50);
  return r;
}

test('a 20 Hz flow makes the link busy from its first window; the peer is told an interval in', (t) => {
  let run = newBusyRun(0);
  run = send(run, 0, 5, 1); // 20 packets a second for 250 ms
  t.is(run.sinceMs, 0);
  t.true(tellsPeer(run, 250, 250));
  t.false(tellsPeer(run, 200, 250), 'not before the run lasted an interval');
  t.false(watchedClosely(run), 'not before the peer answered');
  run = { ...run, toldMs: 250 };
  t.false(tellsPeer(run, 300, 250), 'told, answer pending');
  t.false(tellsPeer(run, 500, 250), 'no answer yet');
  t.true(tellsPeer(run, 250 + BUSY_RETELL_INTERVALS * 250, 250), 'no answer for 2 s: told again (a peer under pressure does not answer)');
  t.true(watchedClosely({ ...run, acked: true }));
  t.false(tellsPeer({ ...run, acked: true }, 900, 250));
});

test('sparse packets (babel, a signed hello now and then) do not make a link busy; a quiet window ends a run', (t) => {
  let run = newBusyRun(0);
  run = noteSent(run, 250, 1, 250); // 4 packets a second
  t.is(run.sinceMs, null);
  t.true(BUSY_MIN_PPS > 4);
  run = send(newBusyRun(0), 0, 10, 1);
  run = { ...run, toldMs: 250, acked: true };
  t.true(watchedClosely(run));
  run = send(run, 500, 5, 0);
  t.is(run.sinceMs, null);
  t.false(watchedClosely(run), 'the next run asks the peer again');
  t.is(run.toldMs, null);
});

test('the peer beats fast from its busy hello while its traffic keeps arriving; two intervals without it end that', (t) => {
  t.true(beatsFast(1_000, -Infinity, 1_100, 250), 'just told');
  t.true(beatsFast(1_000, 1_900, 2_300, 250), 'its packets arrived within two intervals');
  t.false(beatsFast(1_000, 1_900, 2_400, 250), 'none for two intervals');
  t.false(beatsFast(null, 2_000, 2_010, 250), 'never told: traffic alone is no reason');
});

test('a watched run holds through a quiet window until the peer is heard after our last packet (a frozen openvpn end stops our count as the peer falls silent)', (t) => {
  const watched: BusyRun = { ...send(newBusyRun(0), 0, 10, 1), toldMs: 250, acked: true };
  t.is(watched.lastSentMs, 500);
  t.true(watchedClosely(noteSent(watched, 750, 0, 250, 500)), 'nothing heard after our last packet: held');
  t.true(watchedClosely(noteSent(watched, 750, 0, 250, 450)));
  t.false(watchedClosely(noteSent(watched, 750, 0, 250, 550)), 'heard after it: our traffic stopped, the link lives');
  t.is(noteSent({ ...watched, acked: false }, 750, 0, 250, 450).sinceMs, null, 'not answered yet: nothing to hold');
});
