import test from 'ava';
import { parseOpenvpnLine } from '../../../daemon/tunnels/openvpn-lines.js';

// Lines as openvpn 2.6 writes them with --suppress-timestamps (the tunnel ends' argv).
const cases: Array<{ line: string; want: ReturnType<typeof parseOpenvpnLine> }> = [
  { line: 'Initialization Sequence Completed', want: { kind: 'up' } },
  { line: '[fdf5:2127:3c00:2::/64] Peer Connection Initiated with [AF_INET]10.142.0.2:48990', want: { kind: 'peer', remote: '10.142.0.2:48990' } },
  { line: 'Peer Connection Initiated with [AF_INET6]2001:db8::7:1195', want: { kind: 'peer', remote: '[2001:db8::7]:1195' } },
  { line: 'Peer Connection Initiated with [AF_INET6]::ffff:10.142.0.1:1195', want: { kind: 'peer', remote: '[::ffff:10.142.0.1]:1195' } },
  { line: 'SIGUSR1[soft,remote-exit] received, process restarting', want: { kind: 'restart', reason: 'the peer closed its end' } },
  { line: 'SIGUSR1[soft,ping-restart] received, process restarting', want: { kind: 'restart', reason: 'no keepalive from the peer' } },
  { line: '[fdf5:2127:3c00:2::/64] Inactivity timeout (--ping-restart), restarting', want: { kind: 'restart', reason: 'no keepalive from the peer' } },
  { line: 'SIGUSR1[soft,tls-error] received, process restarting', want: { kind: 'restart', reason: 'openvpn restarting' } },
  { line: 'TLS: Initial packet from [AF_INET]10.142.0.2:48990, sid=5d1c2b3a 9e8f7a6b', want: { kind: 'progress' } },
  { line: 'VERIFY OK: depth=1, CN=resilnet CA', want: { kind: 'progress' } },
  { line: 'VERIFY X509NAME OK: CN=fdf5:2127:3c00:2::/64', want: { kind: 'progress' } },
  { line: 'Control Channel: TLSv1.3, cipher TLSv1.3 TLS_AES_256_GCM_SHA384, peer certificate: 256 bit EC, curve prime256v1', want: { kind: 'progress' } },
  { line: 'TLS Error: TLS key negotiation failed to occur within 60 seconds (check your network connectivity)', want: undefined },
  { line: 'TCP/UDP: Preserving recently used remote address: [AF_INET]10.142.0.1:1195', want: undefined },
  { line: 'SIGTERM[hard,] received, process exiting', want: undefined },
  { line: '', want: undefined },
];

for (const c of cases) {
  test(`openvpn line: ${c.line || '(empty)'}`, (t) => {
    t.deepEqual(parseOpenvpnLine(c.line), c.want);
  });
}
