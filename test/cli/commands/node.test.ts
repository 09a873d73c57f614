import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildProgram, main } from '../../../cli/main.js';
import { checkNodeConfigText, resolveControlSocket, toEventsLimit, toPeersRequest } from '../../../cli/commands/node.js';
import { MAX_DESTINATION_ROWS, formatDurationMs, renderEvents, renderPeers, renderReload, renderTunnels } from '../../../cli/commands/node-render.js';
import type { PeerView } from '../../../daemon/control/protocol.js';
import { NOW_MS, samplePeers, sampleTunnels, sampleEvents, serveFakeBackend } from '../../daemon/control/fake-backend.js';

function captureIo() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } }, out, err };
}

test('renderPeers: live table and dead table', (t) => {
  t.is(
    renderPeers({ peers: samplePeers }, { dead: false }, NOW_MS),
    [
      'PEER             STATE   ADDRESSES      SOURCE    LAST SEEN  FAILURES  RTT',
      'fd5e:1:2:8::/64  tunnel  10.1.0.7:1194  registry  5.0 s ago  0         1.3 ms',
      'fd5e:1:2:9::/64  dead    10.1.0.7:1194  registry  5.0 s ago  3         -',
      '',
    ].join('\n'),
  );
  t.is(
    renderPeers({ peers: samplePeers.filter((p) => p.dead) }, { dead: true }, NOW_MS),
    [
      'PEER             CAUSE     REASON                                           SINCE      FAILURES  NEXT RETRY',
      'fd5e:1:2:9::/64  failures  3 failed attempts (no answer to tunnel-request)  2 min ago  3         in 8 min',
      '',
    ].join('\n'),
  );
  t.is(renderPeers({ peers: [] }, { dead: true }, NOW_MS), 'no dead peers\n');
});

test('renderPeers: with the paths the daemon knows, PATH and WHY NOT DIRECT columns', (t) => {
  const [direct, dead] = samplePeers as [PeerView, PeerView];
  const peers: PeerView[] = [
    { ...direct, path: { kind: 'direct', via: null, why: 'outgoing tunnel up' } },
    { ...dead, path: { kind: 'via', via: direct.prefix, why: 'dead: 3 failed attempts (no answer to tunnel-request); retried later' } },
  ];
  const lines = renderPeers({ peers }, { dead: false }, NOW_MS).split('\n');
  t.regex(lines[0]!, /RTT +PATH +WHY NOT DIRECT$/);
  t.regex(lines[1]!, /1\.3 ms +direct +-$/);
  t.regex(lines[2]!, /- +via fd5e:1:2:8::\/64 +dead: 3 failed attempts \(no answer to tunnel-request\); retried later$/);
});

test('renderTunnels and renderEvents', (t) => {
  t.is(
    renderTunnels({ tunnels: sampleTunnels }),
    [
      'PEER             DIR  INTERFACE       STATE  AGE   RX       TX        ROUTES  SCORE',
      'fd5e:1:2:8::/64  out  rn1a2b3c4d5e6f  up*    65 s  120 B/s  2.5 kB/s  2       0.75',
      '',
    ].join('\n'),
  );
  t.is(
    renderEvents({ events: sampleEvents, dropped: 0 }),
    '2026-11-21T11:59:00.000Z  link with fd5e:1:2:8::/64 established via 10.1.0.8:1195/udp\n' +
      '2026-11-21T11:59:50.000Z  peer fd5e:1:2:9::/64 marked dead: 3 failed attempts (no answer to tunnel-request)\n',
  );
});

test('renderTunnels: per-destination traffic as a second table, in the daemon\'s order (busiest first), idle ones left out', (t) => {
  const destinations = [
    { prefix: 'fd5e:1:2:a::/64', rxBytesPerSec: 0, txBytesPerSec: 1_500_000, via: null },
    { prefix: 'fd5e:1:2:9::/64', rxBytesPerSec: 61_200, txBytesPerSec: 60_900, via: 'fd5e:1:2:8::/64' },
    { prefix: 'fd5e:1:2:8::/64', rxBytesPerSec: 300, txBytesPerSec: 0, via: 'fd5e:1:2:8::/64' },
    { prefix: 'fd5e:1:2:b::/64', rxBytesPerSec: 0, txBytesPerSec: 0, via: 'fd5e:1:2:8::/64' },
  ];
  t.is(
    renderTunnels({ tunnels: sampleTunnels, destinations }),
    [
      'PEER             DIR  INTERFACE       STATE  AGE   RX       TX        ROUTES  SCORE',
      'fd5e:1:2:8::/64  out  rn1a2b3c4d5e6f  up*    65 s  120 B/s  2.5 kB/s  2       0.75',
      '',
      'DESTINATION      RX         TX         VIA',
      'fd5e:1:2:a::/64  0 B/s      1.5 MB/s   -',
      'fd5e:1:2:9::/64  61.2 kB/s  60.9 kB/s  fd5e:1:2:8::/64',
      'fd5e:1:2:8::/64  300 B/s    0 B/s      fd5e:1:2:8::/64',
      '',
    ].join('\n'),
  );
  // Measured, but nothing flows; and without tunnels the destinations still show.
  t.is(renderTunnels({ tunnels: sampleTunnels, destinations: [destinations[3]!] }).split('\n\n')[1], 'no traffic to other nodes measured\n');
  t.is(renderTunnels({ tunnels: [], destinations: [] }), 'no tunnels\n\nno traffic to other nodes measured\n');
  // A long list is cut; --json has every destination.
  const many = Array.from({ length: MAX_DESTINATION_ROWS + 3 }, (_, i) => ({ prefix: `fd5e:1:3:${i.toString(16)}::/64`, rxBytesPerSec: 1000 - i, txBytesPerSec: 0, via: null }));
  const text = renderTunnels({ tunnels: [], destinations: many });
  t.is(text.split('\n').filter((l) => l.startsWith('fd5e:1:3:')).length, MAX_DESTINATION_ROWS);
  t.true(text.endsWith('\n(3 more; resilnet tunnels --json lists all)\n'), text);
});

test('renderReload lists applied, restart-required and failed keys', (t) => {
  t.is(
    renderReload({
      path: '/etc/resilnet/resilnet.toml',
      applied: [{ key: 'babel.hello_interval', from: null, to: 1, action: 'apply-live', note: 'sent to babeld' }],
      skipped: [{ key: 'underlay.port', from: 1194, to: 2000, action: 'restart-required', note: 'restart' }],
      failed: [{ key: 'upnp.lease', code: 'RN_UPNP_NO_GATEWAY', message: 'no gateway' }],
    }),
    'applied  babel.hello_interval: (unset) -> 1 (sent to babeld)\nrestart  underlay.port: 1194 -> 2000 (restart)\nFAILED   upnp.lease: no gateway (RN_UPNP_NO_GATEWAY)\n',
  );
  t.is(renderReload({ path: '/x.toml', applied: [], skipped: [], failed: [] }), 'nothing changed in /x.toml\n');
});

test('formatDurationMs', (t) => {
  t.deepEqual([3100, 45_000, 600_000, 7_500_000, 400_000_000].map(formatDurationMs), ['3.1 s', '45 s', '10 min', '2 h 5 min', '5 d']);
});

test('flags to requests', (t) => {
  t.deepEqual(toPeersRequest({}), { dead: false });
  t.deepEqual(toPeersRequest({ dead: true }), { dead: true });
  t.is(toEventsLimit(undefined), 100);
  t.is(toEventsLimit('5'), 5);
  t.is((t.throws(() => toEventsLimit('0')) as any).code, 'RN_CLI_USAGE');
});

const checkCases: Array<{ name: string; text: string; want: Array<{ key: string; reason: RegExp }> }> = [
  { name: 'valid', text: '[registry]\nurl = "https://10.0.0.1:8443"', want: [] },
  { name: 'missing registry', text: '', want: [{ key: 'registry', reason: /expected object/ }] },
  {
    name: 'out of range and unknown key',
    text: '[registry]\nurl = "https://10.0.0.1:8443"\n[babel]\nhello_interval = 0\nhelo = 3',
    want: [
      { key: 'babel.hello_interval', reason: /0\.1/ },
      { key: 'babel.helo', reason: /unknown key/ },
    ],
  },
  { name: 'bad neighbour prefix', text: '[registry]\nurl = "https://x"\n[tunnels]\nneighbours = ["nope"]', want: [{ key: 'tunnels.neighbours.0', reason: /./ }] },
  { name: 'TOML syntax error', text: '[registry\nurl = 1', want: [{ key: 'line 1, column 10', reason: /./ }] },
];

for (const c of checkCases) {
  test(`checkNodeConfigText: ${c.name}`, (t) => {
    const r = checkNodeConfigText(c.text, '/etc/resilnet/resilnet.toml');
    t.is(r.ok, c.want.length === 0);
    t.deepEqual(r.problems.map((p) => p.key), c.want.map((w) => w.key));
    r.problems.forEach((p, i) => t.regex(p.reason, c.want[i]!.reason));
  });
}

test('checkNodeConfigText: identity files that do not exist are reported by key', (t) => {
  const r = checkNodeConfigText('[registry]\nurl = "https://10.0.0.1:8443"\n[identity]\nca = "/abs/ca.crt"', '/etc/resilnet/resilnet.toml', {
    fileExists: (p) => p === '/etc/resilnet/node.crt',
  });
  t.deepEqual(r.problems.map((p) => p.key), ['identity.ca', 'identity.key']);
  t.regex(r.problems[1]!.reason, /\/etc\/resilnet\/node\.key/);
});

test('CLI: config check prints each problem and exits 1', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rn-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'r.toml');
  writeFileSync(file, '[registry]\nurl = "https://10.0.0.1:8443"\n[babel]\nhello_interval = 100\n[identity]\nca = "ca.crt"\ncert = "ca.crt"\nkey = "ca.crt"\n');
  writeFileSync(join(dir, 'ca.crt'), 'x');
  const { io, out, err } = captureIo();
  t.is(await main(['config', 'check', file], io), 1);
  t.regex(out.join(''), /r\.toml: babel\.hello_interval: .*60/);
  t.regex(err.join(''), /RN_CONFIG_INVALID/);
  writeFileSync(file, '[registry]\nurl = "https://10.0.0.1:8443"\n[identity]\nca = "ca.crt"\ncert = "ca.crt"\nkey = "ca.crt"\n');
  const ok = captureIo();
  t.is(await main(['config', 'check', file, '--json'], ok.io), 0);
  t.deepEqual(JSON.parse(ok.out.join('')), { path: file, ok: true, problems: [] });
});

test('CLI: read commands against a daemon stub, text and --json', async (t) => {
  const { socketPath, backend } = await serveFakeBackend(t);
  const peers = captureIo();
  t.is(await main(['peers', '--dead', '--json', '--socket', socketPath], peers.io), 0);
  t.deepEqual(JSON.parse(peers.out.join('')), { peers: samplePeers.filter((p) => p.dead) });
  t.deepEqual(backend.lastPeersRequest, { dead: true });

  const status = captureIo();
  t.is(await main(['status', '--socket', socketPath], status.io), 0);
  t.regex(status.out.join(''), /^node +fd5e:1:2:7::\/64 \(address fd5e:1:2:7::1\)/);

  const tunnels = captureIo();
  t.is(await main(['tunnels', '--socket', socketPath], tunnels.io), 0);
  t.regex(tunnels.out.join(''), /rn1a2b3c4d5e6f/);

  const events = captureIo();
  t.is(await main(['events', '--json', '--limit', '1', '--socket', socketPath], events.io), 0);
  t.is(JSON.parse(events.out.join('')).events.length, 1);

  const reload = captureIo();
  t.is(await main(['reload', '--socket', socketPath], reload.io), 0);
  t.is(backend.reloads, 1);
  t.regex(reload.out.join(''), /applied  babel\.hello_interval: \(unset\) -> 1/);
});

test('CLI: the socket comes from --config when --socket is not given', async (t) => {
  const { socketPath, dir } = await serveFakeBackend(t);
  const file = join(dir, 'resilnet.toml');
  writeFileSync(file, `[registry]\nurl = "https://10.0.0.1:8443"\n[control]\nsocket = "${socketPath}"\n`);
  t.is(resolveControlSocket({ config: file }), socketPath);
  const { io, out } = captureIo();
  t.is(await main(['tunnels', '--json', '--config', file], io), 0);
  t.deepEqual(JSON.parse(out.join('')), { tunnels: sampleTunnels });
});

test('CLI: no daemon gives one readable line with the code and the next step', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rn-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const { io, err } = captureIo();
  t.is(await main(['status', '--socket', join(dir, 'x.sock')], io), 1);
  t.regex(err.join(''), /cannot reach the resilnet daemon at .*x\.sock \(ENOENT\)\nIs resilnet\.service running\?.*\(RN_DAEMON_UNREACHABLE\)/);
});

test('command tree: node commands have a description, an example and --json', (t) => {
  const { io } = captureIo();
  const program = buildProgram(io);
  const find = (path: string[]) => path.reduce<any>((cmd, name) => cmd.commands.find((c: any) => c.name() === name), program);
  for (const path of [['status'], ['peers'], ['tunnels'], ['events'], ['reload'], ['config', 'check']]) {
    const cmd = find(path);
    t.truthy(cmd, path.join(' '));
    t.true(cmd.description().length > 10, path.join(' '));
    t.true(cmd.options.some((o: any) => o.long === '--json'), `${path.join(' ')} has --json`);
    const help = captureIo();
    cmd.configureOutput({ writeOut: (s: string) => help.io.stdout.write(s) });
    cmd.outputHelp();
    t.regex(help.out.join(''), /Examples:\n  \$ resilnet /, path.join(' '));
  }
});
