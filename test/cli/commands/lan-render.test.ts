import test from 'ava';
import { renderLanStatus } from '../../../cli/commands/lan-render.js';

test('the status line names interfaces, neighbours and only the reasons that occurred', (t) => {
  const line = renderLanStatus({
    port: 1193,
    intervalSec: 30,
    interfaces: [
      { name: 'eth1', joined: true, error: null, endpoints: ['192.168.7.2:1194'], lastSentMs: 1 },
      { name: 'eth9', joined: false, error: 'cannot join the LAN group on eth9 (ENODEV)', endpoints: [], lastSentMs: null },
    ],
    sent: 4,
    sendErrors: 0,
    received: 7,
    accepted: 3,
    ignored: { malformed: 1, foreign: 2, badCert: 0, revoked: 0, badSignature: 1, stale: 0, replayed: 0 },
    neighbours: [{ prefix: 'fd5e:1:0:3::/64', interface: 'eth1', endpoints: ['192.168.7.3:1194'], lastHeardMs: 1 }],
  });
  t.is(line, 'lan          udp 1193 every 30 s on eth1 192.168.7.2:1194, eth9 (cannot join the LAN group on eth9 (ENODEV)); 4 sent, 7 heard, 3 accepted, ignored: 1 malformed, 2 foreign, 1 badSignature; neighbours: fd5e:1:0:3::/64 on eth1');
});
