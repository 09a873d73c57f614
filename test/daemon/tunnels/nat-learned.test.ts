import test from 'ava';
import type { NatClass } from '../../../daemon/nat/classify.js';
import { directAttemptsToGiveUp, serverEndsToGiveUp, type PendingTunnel } from '../../../daemon/tunnels/nat-learned.js';

const pending = (peer: string, over: Partial<PendingTunnel> = {}): PendingTunnel => ({
  peer, direction: 'outgoing', everUp: false, punched: false, state: 'connecting', handshakeAtMs: null, remote: '198.51.100.7:1195', openedAtMs: 0, ...over,
});

const known: Record<string, NatClass> = { pub: 'public', up: 'upnp', nat: 'eim' };
const ctx = { natClass: (p: string) => known[p], onSharedLan: (r: string) => r.startsWith('192.168.1.'), reachable: (p: string) => p !== 'cut-off' };

test('behind a NAT without UPnP: pending direct attempts that heard nothing back, to peers not known to take tunnels and reached over the overlay, are given up', (t) => {
  const tunnels = [
    pending('a'),
    pending('nat'),
    pending('pub'),
    pending('up'),
    pending('heard', { handshakeAtMs: 5 }),
    pending('was-up', { everUp: true, state: 'up' }),
    pending('punched', { punched: true }),
    pending('served', { direction: 'incoming', remote: null }),
    pending('lan', { remote: '192.168.1.3:1195' }),
    pending('draining', { state: 'draining' }),
    pending('cut-off'),
  ];
  for (const self of ['eim', 'apdm'] as const) t.deepEqual(directAttemptsToGiveUp(self, tunnels, ctx), ['a', 'nat'], self);
});

test('any other class of ours gives nothing up', (t) => {
  for (const self of ['public', 'upnp', 'unknown'] as const) t.deepEqual(directAttemptsToGiveUp(self, [pending('a')], ctx), [], self);
});

test('behind a NAT without UPnP: server ends that heard nothing for 2 s are given up; reached, young or punched ones are kept', (t) => {
  const served = (peer: string, over: Partial<PendingTunnel> = {}) => pending(peer, { direction: 'incoming', remote: null, ...over });
  const tunnels = [
    served('unreached'),
    served('young', { openedAtMs: 9_000 }),
    served('heard', { handshakeAtMs: 5 }),
    served('up', { everUp: true, state: 'up' }),
    served('punched', { punched: true }),
    pending('ours'),
  ];
  t.deepEqual(serverEndsToGiveUp('eim', tunnels, 10_000), ['unreached']);
  t.deepEqual(serverEndsToGiveUp('public', tunnels, 10_000), []);
});
