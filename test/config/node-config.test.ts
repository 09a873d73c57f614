import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadNodeConfig, parseNodeConfig } from '../../config/node-config.js';
import { DEFAULT_TUNNEL_POLICY } from '../../daemon/tunnels/plan.js';

const minimal = '[registry]\nurl = "https://10.1.0.1:8443"\n';

test('a minimal file gets every default, with paths resolved against its folder', (t) => {
  const c = parseNodeConfig(minimal, '/etc/resilnet/resilnet.toml');
  t.is(c.identity.cert, '/etc/resilnet/node.crt');
  t.is(c.node.state_dir, '/var/lib/resilnet');
  t.is(c.control.socket, '/run/resilnet/control.sock');
  t.is(c.underlay.port, 1194);
  t.is(c.babel.hello_interval, undefined);
  t.deepEqual(c.tunnels.neighbours, []);
  t.true(Object.isFrozen(c) && Object.isFrozen(c.node));
});

test('tunnels.min_age defaults to the planner\'s minimum tunnel age', (t) => {
  t.is(parseNodeConfig(minimal, '/x.toml').tunnels.min_age * 1000, DEFAULT_TUNNEL_POLICY.minTunnelAgeMs);
  t.is(parseNodeConfig(`${minimal}[tunnels]\nmin_age = 10\n`, '/x.toml').tunnels.min_age, 10);
});

test('relative dirs, overrides and neighbours in canonical form', (t) => {
  const c = parseNodeConfig(
    `${minimal}[node]\nrun_dir = "run"\n[babel]\nhello_interval = 1\n[tunnels]\nneighbours = ["FD5E:1:2:7:0::/64"]\n`,
    '/srv/n1/resilnet.toml',
  );
  t.is(c.node.run_dir, '/srv/n1/run');
  t.is(c.control.socket, '/srv/n1/run/control.sock');
  t.is(c.babel.hello_interval, 1);
  t.deepEqual(c.tunnels.neighbours, ['fd5e:1:2:7::/64']);
});

const bad: Array<{ name: string; text: string; want: RegExp }> = [
  { name: 'TOML syntax', text: 'registry = [', want: /config invalid at \/x\.toml:\d+:\d+/ },
  { name: 'missing registry', text: '', want: /registry: / },
  { name: 'unknown key', text: `${minimal}[babel]\nhello = 1\n`, want: /babel: .*hello/ },
  { name: 'out of range', text: `${minimal}[babel]\nhello_interval = 0.01\n`, want: /babel\.hello_interval: / },
  { name: 'wrong type', text: `${minimal}[underlay]\nport = "1194"\n`, want: /underlay\.port: / },
  { name: 'minimum tunnel age below 1 s', text: `${minimal}[tunnels]\nmin_age = 0\n`, want: /tunnels\.min_age: / },
  { name: 'announced address with a zone ID', text: `${minimal}[underlay]\naddresses = ["[fe80::1%eth0]:1194"]\n`, want: /underlay\.addresses\.0: .*zone ID.*peers could not use it/ },
  { name: 'announced loopback address', text: `${minimal}[underlay]\naddresses = ["203.0.113.7", "127.0.0.1:1194"]\n`, want: /underlay\.addresses\.1: 127\.0\.0\.1 is a loopback address/ },
  { name: 'announced host name', text: `${minimal}[underlay]\naddresses = ["vpn.example.org"]\n`, want: /underlay\.addresses\.0: vpn\.example\.org is not an IP address/ },
  { name: 'announced port out of range', text: `${minimal}[underlay]\naddresses = ["203.0.113.7:70000"]\n`, want: /underlay\.addresses\.0: .*port must be 1-65535/ },
  { name: 'bad neighbour', text: `${minimal}[tunnels]\nneighbours = ["fd00::1/64"]\n`, want: /tunnels\.neighbours\.0: .*host bits/ },
];

for (const { name, text, want } of bad) {
  test(`refused with key and reason: ${name}`, (t) => {
    const err = t.throws(() => parseNodeConfig(text, '/x.toml'));
    t.is((err as { code?: string }).code, 'RN_CONFIG_INVALID');
    t.regex(err!.message, want);
  });
}

test('announced addresses: IP, IPv4:PORT and [IPv6]:PORT are accepted', (t) => {
  const c = parseNodeConfig(`${minimal}[underlay]\naddresses = ["203.0.113.7", "203.0.113.7:1200", "2001:db8::7", "[2001:db8::7]:1200"]\n`, '/x.toml');
  t.deepEqual(c.underlay.addresses, ['203.0.113.7', '203.0.113.7:1200', '2001:db8::7', '[2001:db8::7]:1200']);
});

test('a missing file says what to run', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rn-cfg-'));
  const err = t.throws(() => loadNodeConfig(join(dir, 'nope.toml')));
  t.regex(err!.message, /ENOENT.*resilnet register/);
  writeFileSync(join(dir, 'ok.toml'), minimal);
  t.is(loadNodeConfig(join(dir, 'ok.toml')).registry.url, 'https://10.1.0.1:8443');
});

test('[lan]: off by default; interface names are checked', (t) => {
  const off = parseNodeConfig(minimal, '/x.toml');
  t.deepEqual(off.lan, { interfaces: [], interval: 30, port: 1193 });
  const on = parseNodeConfig(`${minimal}[lan]\ninterfaces = ["eth1", "br-lan.10"]\ninterval = 5\n`, '/x.toml');
  t.deepEqual(on.lan.interfaces, ['eth1', 'br-lan.10']);
  t.is(on.lan.interval, 5);
  for (const bad of ['"eth 1"', '"a/b"', '"waytoolonginterfacename"', '""', '".."', '"eth1", "eth1"']) {
    t.throws(() => parseNodeConfig(`${minimal}[lan]\ninterfaces = [${bad}]\n`, '/x.toml'), { message: /lan\.interfaces/ }, bad);
  }
});
