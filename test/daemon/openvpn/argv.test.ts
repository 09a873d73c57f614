import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildOpenvpnArgv, renderArgv, type TunnelSpec } from '../../../daemon/openvpn/argv.js';
import { UP_SCRIPT, writeUpScript } from '../../../daemon/openvpn/up-script.js';

const base: Omit<TunnelSpec, 'endpoint'> = {
  proto: 'udp',
  ifName: 'rn0123456789abc',
  peerPrefix: 'fd5e:1:2:8::/64',
  caPath: '/etc/resilnet/ca.crt',
  certPath: '/etc/resilnet/node.crt',
  keyPath: '/etc/resilnet/node.key',
  crlPath: '/run/resilnet/crl.pem',
  dataCiphers: [],
  tunMtu: 1400,
  upScriptPath: '/run/resilnet/openvpn-up.sh',
  linkLocal: 'fe80::1:2:3:4',
  keepaliveIntervalSec: 1,
  keepaliveTimeoutSec: 3,
  managementSocket: '/run/resilnet/rn0123456789abc.mgmt',
  verbosity: 3,
};

const common = `--verify-x509-name fd5e:1:2:8::/64 name
--ca /etc/resilnet/ca.crt
--cert /etc/resilnet/node.crt
--key /etc/resilnet/node.key
--crl-verify /run/resilnet/crl.pem`;
const tail = `--script-security 2
--up /run/resilnet/openvpn-up.sh
--setenv LL fe80::1:2:3:4
--keepalive 1 3`;
const mgmt = `--management /run/resilnet/rn0123456789abc.mgmt unix
--verb 3
--suppress-timestamps`;

test('server end, UDP (golden)', (t) => {
  const argv = buildOpenvpnArgv({ ...base, endpoint: { role: 'server', listenPort: 1195, localAddress: '198.18.0.7' } });
  t.is(
    renderArgv(argv),
    `openvpn
--dev-type tun
--dev rn0123456789abc
--tun-mtu 1400
--proto udp
--tls-server
--dh none
--local 198.18.0.7
--lport 1195
--float
--remote-cert-tls client
${common}
${tail}
--explicit-exit-notify 1
${mgmt}
`,
  );
});

test('client end, UDP, with ciphers (golden)', (t) => {
  const argv = buildOpenvpnArgv({ ...base, dataCiphers: ['AES-256-GCM', 'CHACHA20-POLY1305'], endpoint: { role: 'client', remoteHost: '198.18.0.7', remotePort: 1195 } });
  t.is(
    renderArgv(argv),
    `openvpn
--dev-type tun
--dev rn0123456789abc
--tun-mtu 1400
--proto udp
--tls-client
--remote 198.18.0.7 1195
--nobind
--remote-cert-tls server
${common}
--data-ciphers AES-256-GCM:CHACHA20-POLY1305
${tail}
--explicit-exit-notify 1
${mgmt}
`,
  );
});

test('TCP ends use tcp-server/tcp-client and no explicit-exit-notify', (t) => {
  const server = buildOpenvpnArgv({ ...base, proto: 'tcp', endpoint: { role: 'server', listenPort: 1195 } });
  const client = buildOpenvpnArgv({ ...base, proto: 'tcp', endpoint: { role: 'client', remoteHost: 'h', remotePort: 1 } });
  t.is(server[server.indexOf('--proto') + 1], 'tcp-server');
  t.is(client[client.indexOf('--proto') + 1], 'tcp-client');
  t.false(server.includes('--explicit-exit-notify'));
  t.false(server.includes('--local'));
});

test('never daemonizes or persists the tun', (t) => {
  const argv = buildOpenvpnArgv({ ...base, endpoint: { role: 'server', listenPort: 1 } });
  for (const bad of ['--daemon', '--persist-tun', '--writepid', '--mode', '--server']) t.false(argv.includes(bad), bad);
});

test('writeUpScript writes an executable script', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rn-up-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = writeUpScript(join(dir, 'run'));
  t.is(readFileSync(path, 'utf8'), UP_SCRIPT);
  t.is(statSync(path).mode & 0o777, 0o700);
});

test('a punched client end binds the port whose NAT mapping was learned, instead of --nobind', (t) => {
  const argv = buildOpenvpnArgv({ ...base, endpoint: { role: 'client', remoteHost: '198.18.0.7', remotePort: 1195, localPort: 1196 } });
  t.deepEqual(argv.slice(argv.indexOf('--remote'), argv.indexOf('--remote') + 5), ['--remote', '198.18.0.7', '1195', '--lport', '1196']);
  t.false(argv.includes('--nobind'));
});
