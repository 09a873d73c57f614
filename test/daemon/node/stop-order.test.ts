// The node's stop order over whichever parts exist: babeld before the tunnels, the
// tunnels before the children, the control socket last; a failing step does not stop the rest.
import test from 'ava';
import type { RunningParts } from '../../../daemon/node/parts.js';
import { stopParts } from '../../../daemon/node/stop.js';

function recorder() {
  const calls: string[] = [];
  const part = (name: string, method = 'stop', fail = false) => ({
    [method]: async () => {
      calls.push(name);
      if (fail) throw new Error(`${name} failed`);
    },
  });
  return { calls, part };
}

test('parts stop in order; a failed step is logged and the next one runs; absent parts are skipped', async (t) => {
  const { calls, part } = recorder();
  const warned: string[] = [];
  const p = {
    registrySync: part('registry'),
    gossip: part('gossip'),
    babel: part('babeld', 'stop', true),
    manager: { ...part('tunnels'), list: () => [] },
    supervisor: part('children', 'stopAll'),
    peerproto: part('peer protocol'),
    peerDb: part('peer db', 'close'),
    control: part('control'),
  } as unknown as RunningParts;
  const log = { warn: (o: { step: string }) => void warned.push(o.step), info: (msg: string) => void calls.push(msg) };
  await stopParts(p, { hostSetUp: false }, {
    log: log as never,
    health: { stop: () => void calls.push('health') },
    lateness: { stop: () => void calls.push('lateness') },
    eventStore: { close: () => void calls.push('events store') },
  });
  t.deepEqual(calls, ['registry', 'gossip', 'babeld', 'lateness', 'tunnels', 'children', 'peer protocol', 'health', 'peer db', 'events store', 'control', 'stopped']);
  t.deepEqual(warned, ['babeld']);
});
