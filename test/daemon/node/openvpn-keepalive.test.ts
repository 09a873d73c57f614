// openvpn's own keepalive is a last resort when the daemon's link liveness runs, and the only
// restart signal when it does not.
import test from 'ava';
import { openvpnKeepalive } from '../../../daemon/node/openvpn-spec.js';

test('with link liveness on, openvpn restarts a silent session only after 60 s (the daemon acts after ~1 s and 5 s)', (t) => {
  t.deepEqual(openvpnKeepalive(0.25), { intervalSec: 10, timeoutSec: 60 });
  t.deepEqual(openvpnKeepalive(0.05), { intervalSec: 10, timeoutSec: 60 });
});

test('with link liveness off, openvpn keeps its short keepalive: it is what notices a peer that restarted', (t) => {
  t.deepEqual(openvpnKeepalive(0), { intervalSec: 1, timeoutSec: 5 });
});
