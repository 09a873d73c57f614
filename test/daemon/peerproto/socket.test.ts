// The one test on real sockets: the node:dgram binding that the daemon uses. One
// udp6 socket on "::" answers IPv4 (seen as plain dotted quads) and IPv6 on the
// same port, and a port already taken is a clear RN_PEERPROTO_BIND.
import test from 'ava';
import { systemClock } from '../../../daemon/sys/clock.js';
import { PeerProtocol } from '../../../daemon/peerproto/index.js';
import { captureLog, makePki } from './fixture.js';

const A = 'fd5e:1:0:a::/64';
const B = 'fd5e:1:0:b::/64';

test('real dual-stack socket: hellos over IPv4 and IPv6 loopback reach one port; a taken port is refused', async (t) => {
  const pki = await makePki(Date.now());
  const make = async (prefix: string, serial: string) => new PeerProtocol({ clock: systemClock, self: await pki.node(prefix, serial), verifyPeerCert: pki.verifyPeerCert, log: captureLog() });
  const a = await make(A, 'a1');
  const b = await make(B, 'b1');
  const ctl = new AbortController();
  t.teardown(() => ctl.abort());
  await a.start({ port: 0, signal: ctl.signal });
  const { port } = await b.start({ port: 0, signal: ctl.signal });

  const v4 = await a.hello({ host: '127.0.0.1', port, prefix: B }, { timeoutMs: 5000, attempts: 3 });
  t.deepEqual({ prefix: v4.from.prefix, host: v4.from.host, port: v4.from.port }, { prefix: B, host: '127.0.0.1', port });
  const v6 = await a.hello({ host: '::1', port, prefix: B }, { timeoutMs: 5000, attempts: 3 });
  t.deepEqual({ prefix: v6.from.prefix, host: v6.from.host, port: v6.from.port }, { prefix: B, host: '::1', port });

  const c = await make('fd5e:1:0:c::/64', 'c1');
  const err = await t.throwsAsync(c.start({ port }));
  t.is((err as { code?: string }).code, 'RN_PEERPROTO_BIND');
  t.regex((err as Error).message, /EADDRINUSE/);
});
