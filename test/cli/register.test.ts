// `resilnet register` and `resilnet registry …`: the written config, the
// command tree (descriptions, examples, --json on read commands) and flag errors.
import test from 'ava';
import { Command } from 'commander';
import { parseNodeConfig } from '../../config/node-config.js';
import { registerRegisterCommand } from '../../cli/commands/register.js';
import { registerRegistryCommands, renderNodes, renderTokens } from '../../cli/commands/registry.js';
import { renderNodeConfig } from '../../registry/register-node.js';
import { runCli, tempDir } from '../registry/cli-harness.js';

test('the resilnet.toml register writes is accepted by parseNodeConfig', (t) => {
  const text = renderNodeConfig({
    registryUrl: 'https://[fd00::1]:8443',
    prefix: 'fd5e:1:0:7::/64',
    stateDir: '/tmp/lab "x"/state',
    runDir: '/run/resilnet',
    port: 2194,
    addresses: ['203.0.113.7', '[2001:db8::7]:4000'],
  });
  const cfg = parseNodeConfig(text, '/etc/resilnet/resilnet.toml');
  t.is(cfg.registry.url, 'https://[fd00::1]:8443');
  t.is(cfg.node.state_dir, '/tmp/lab "x"/state');
  t.is(cfg.node.run_dir, '/run/resilnet');
  t.is(cfg.underlay.port, 2194);
  t.deepEqual(cfg.underlay.addresses, ['203.0.113.7', '[2001:db8::7]:4000']);
  t.is(cfg.identity.ca, '/etc/resilnet/ca.crt');
  t.is(cfg.identity.key, '/etc/resilnet/node.key');
  t.is(cfg.control.socket, '/run/resilnet/control.sock');
  t.regex(text, /^# /m, 'commented');
});

test('the tunnel settings the template shows commented out are the defaults', (t) => {
  const text = renderNodeConfig({ registryUrl: 'https://10.0.0.1:8443', prefix: 'fd5e:1:0:7::/64', stateDir: '/s', runDir: '/r', port: 1194, addresses: [] });
  const keys = ['min_age', 'link_hello_interval', 'link_hello_misses', 'link_beats', 'link_idle_pace'] as const;
  let uncommented = text;
  for (const key of keys) {
    t.regex(text, new RegExp(`^# ${key} = `, 'm'), key);
    uncommented = uncommented.replace(`# ${key} = `, `${key} = `);
  }
  const defaults = parseNodeConfig(text, '/etc/resilnet/resilnet.toml').tunnels;
  const shown = parseNodeConfig(uncommented, '/etc/resilnet/resilnet.toml').tunnels;
  for (const key of keys) t.is(shown[key], defaults[key], key);
});

function walk(cmd: Command): Command[] {
  return [cmd, ...cmd.commands.flatMap(walk)];
}

/** "registry token add" (without the root program's name). */
function fullName(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

test('every registry/register command has a description and examples; read commands offer --json', (t) => {
  const program = new Command('resilnet');
  const io = { stdout: { write: () => true }, stderr: { write: () => true } };
  registerRegistryCommands(program, io);
  registerRegisterCommand(program, io);
  const leaves = walk(program).filter((c) => c !== program && c.commands.length === 0);
  t.true(leaves.length >= 11);
  t.true(leaves.map(fullName).includes('registry token add'));
  const names = new Set<string>();
  for (const c of leaves) {
    const full = fullName(c);
    t.false(names.has(full), full);
    names.add(full);
    t.true(c.description().length > 10, `${full} has a description`);
    let help = '';
    c.configureOutput({ writeOut: (s) => (help += s), writeErr: (s) => (help += s) });
    c.outputHelp();
    t.regex(help, /Examples?:/, `${full} has an example`);
  }
  for (const read of ['registry nodes', 'registry token list', 'registry config show', 'registry status']) {
    const c = leaves.find((x) => fullName(x) === read);
    t.truthy(c, read);
    t.true(c!.options.some((o) => o.long === '--json'), `${read} has --json`);
  }
});

test('register rejects bad flags before contacting anything', async (t) => {
  const dir = tempDir(t, 'regflags');
  const port = await runCli(['register', '--registry', 'https://127.0.0.1:1', '--token', 'x', '--dir', dir, '--port', '70000']);
  t.is(port.code, 1);
  t.regex(port.stderr, /--port/);
  const fp = await runCli(['register', '--registry', 'https://127.0.0.1:1', '--token', 'x', '--dir', dir, '--fingerprint', 'sha256:12']);
  t.regex(fp.stderr, /RN_PKI_FINGERPRINT_INVALID/);
  const addr = await runCli(['register', '--registry', 'https://127.0.0.1:1', '--token', 'x', '--dir', dir, '--address', 'nonsense']);
  t.regex(addr.stderr, /RN_ENROL_USAGE/);
  const zoned = await runCli(['register', '--registry', 'https://127.0.0.1:1', '--token', 'x', '--dir', dir, '--address', '[fe80::1%eth0]:1194']);
  t.regex(zoned.stderr, /zone ID.*RN_ENROL_USAGE/);
  const loopback = await runCli(['register', '--registry', 'https://127.0.0.1:1', '--token', 'x', '--dir', dir, '--address', '127.0.0.1:1194']);
  t.regex(loopback.stderr, /loopback.*RN_ENROL_USAGE/);
  const url = await runCli(['register', '--registry', 'http://127.0.0.1:1', '--token', 'x', '--dir', dir]);
  t.regex(url.stderr, /RN_REGISTRY_URL_INVALID/);
  const missing = await runCli(['register', '--token', 'x']);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /--registry/);
});

test('registry init rejects bad prefixes and lengths with the reason', async (t) => {
  const dir = tempDir(t, 'reginit');
  const bad = await runCli(['registry', 'init', '--dir', `${dir}/a`, '--prefix', 'fd00:zz::/48']);
  t.is(bad.code, 1);
  t.regex(bad.stderr, /RN_PREFIX_INVALID/);
  const hostBits = await runCli(['registry', 'init', '--dir', `${dir}/b`, '--prefix', 'fd00::1/48']);
  t.regex(hostBits.stderr, /host bits/);
  const noRoom = await runCli(['registry', 'init', '--dir', `${dir}/c`, '--prefix', 'fd00::/64', '--node-prefix-length', '64']);
  t.regex(noRoom.stderr, /RN_REGISTRY_PREFIX_LENGTH/);
  t.regex(noRoom.stderr, /no room/);
  const badSet = await runCli(['registry', 'init', '--dir', `${dir}/d`, '--prefix', 'fd00::/48', '--set', 'babel.hello_interval=0']);
  t.regex(badSet.stderr, /RN_REGISTRY_SETTING_INVALID/);
  const ok = await runCli(['registry', 'init', '--dir', `${dir}/e`, '--prefix', 'fd00:0:0::/48']);
  t.is(ok.code, 0, ok.stderr);
  t.regex(ok.stdout, /created network fd00::\/48/);
});

test('renderers: tables and empty states', (t) => {
  t.regex(renderTokens([]), /no tokens/);
  t.regex(renderNodes([]), /no nodes/);
  const node = {
    prefix: 'fd42:1:0:1::/64', state: 'online' as const, email: null, enrolled_at: 'e', expires_at: '2027-01-01T00:00:00.000Z', revoked_at: null,
    last_seen: '2026-12-05T12:00:00.000Z', seen_address: '198.51.100.1', port: 1194, addresses: [], network_config_version: 1, serials: ['10'],
    nat_class: 'eim' as const, tunnels: 1, tunnel_list: [{ peer: 'fd42:1:0:2::/64', role: 'client' as const, rx_bytes: 1500, tx_bytes: 20, rtt_ms: 3.25 }],
  };
  const nodes = renderNodes([node, { ...node, prefix: 'fd42:1:0:2::/64', nat_class: null, last_seen: null, seen_address: null, tunnels: 0, tunnel_list: [] }]);
  t.regex(nodes, /^PREFIX\s+STATE\s+LAST SEEN\s+SEEN FROM\s+NAT\s+TUNNELS\s+CERT EXPIRES/);
  t.regex(nodes, /fd42:1:0:1::\/64\s+online\s+\S+\s+198\.51\.100\.1\s+eim\s+1\s/);
  t.regex(nodes, /fd42:1:0:2::\/64\s+online\s+-\s+-\s+-\s+0\s/);
  t.false(nodes.includes('→'));
  const verbose = renderNodes([node], { verbose: true }).split('\n');
  t.is(verbose[2], '    → fd42:1:0:2::/64  client  rtt 3.3 ms  rx 1.5 kB  tx 20 B');
  const table = renderTokens([{ id: 'abcd1234', state: 'usable', uses_total: 3, uses_left: 2, email: null, created_at: 'x', expires_at: null, revoked_at: null }]);
  t.regex(table, /^ID\s+STATE\s+USES LEFT/);
  t.regex(table, /abcd1234\s+usable\s+2\/3\s+never\s+-/);
});
