// When the node starts UPnP: after the start-up burst (a tunnel up, none connecting),
// not before TIMING.upnpStartDelayMs, and at the latest UPNP_START_LATEST_MS after the start.
import test from 'ava';
import { startUpnpAfterBurst, UPNP_START_LATEST_MS, upnpStartDue } from '../../../daemon/node/upnp-start.js';
import { TIMING } from '../../../daemon/settings.js';
import { FakeClock } from '../../fakes/fake-clock.js';

const up = { state: 'up' };
const connecting = { state: 'connecting' };

test('due once a tunnel is up and none connects, after the delay; at the latest bound whatever the tunnels', (t) => {
  t.false(upnpStartDue([up], TIMING.upnpStartDelayMs - 1));
  t.true(upnpStartDue([up], TIMING.upnpStartDelayMs));
  t.true(upnpStartDue([up, { state: 'draining' }], TIMING.upnpStartDelayMs));
  t.false(upnpStartDue([up, connecting], TIMING.upnpStartDelayMs));
  t.false(upnpStartDue([], TIMING.upnpStartDelayMs));
  t.false(upnpStartDue([connecting], UPNP_START_LATEST_MS - 1));
  t.true(upnpStartDue([connecting], UPNP_START_LATEST_MS));
  t.true(upnpStartDue([], UPNP_START_LATEST_MS));
});

test('starts once, when the burst ends; never after the stop signal', async (t) => {
  const clock = new FakeClock();
  const t0 = clock.nowMs();
  let tunnels = [connecting];
  const startedAt: number[] = [];
  startUpnpAfterBurst({ clock, signal: new AbortController().signal, tunnels: () => tunnels, start: () => startedAt.push(clock.nowMs() - t0) });
  await clock.advance(TIMING.upnpStartDelayMs + 1_000);
  t.deepEqual(startedAt, []);
  tunnels = [up];
  await clock.advance(500);
  t.deepEqual(startedAt, [TIMING.upnpStartDelayMs + 1_500]);
  await clock.advance(UPNP_START_LATEST_MS);
  t.is(startedAt.length, 1);
  t.is(clock.pendingTimers(), 0);

  const stopped = new AbortController();
  startUpnpAfterBurst({ clock, signal: stopped.signal, tunnels: () => [], start: () => startedAt.push(-1) });
  stopped.abort();
  await clock.advance(UPNP_START_LATEST_MS * 2);
  t.is(startedAt.length, 1);
  t.is(clock.pendingTimers(), 0);
});
