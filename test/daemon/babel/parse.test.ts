import test from 'ava';
import { isReplyEnd, isReplyEndLine, parseBabelLine, type BabelEvent } from '../../../daemon/babel/parse.js';
import { readTranscript } from '../../fixtures/load.js';

const table: Array<{ name: string; input: string; want: BabelEvent }> = [
  { name: 'banner', input: 'BABEL 1.0', want: { kind: 'banner', protocol: '1.0' } },
  { name: 'version', input: 'version babeld-1.12.1', want: { kind: 'version', version: 'babeld-1.12.1' } },
  { name: 'host', input: 'host vm', want: { kind: 'host', host: 'vm' } },
  { name: 'my-id', input: 'my-id 72:5c:4b:ff:fe:4c:bf:3e', want: { kind: 'my-id', id: '72:5c:4b:ff:fe:4c:bf:3e' } },
  { name: 'ok', input: 'ok', want: { kind: 'ok' } },
  { name: 'bad', input: 'bad', want: { kind: 'bad', text: '' } },
  { name: 'no with text', input: 'no such thing', want: { kind: 'no', text: 'such thing' } },
  {
    name: 'interface up with ipv6',
    input: 'add interface rn2cf797a6f7066 up true ipv6 fe80::6729:a599:4111:1d6e',
    want: { kind: 'interface', action: 'add', interface: { name: 'rn2cf797a6f7066', up: true, ipv6: 'fe80::6729:a599:4111:1d6e' } },
  },
  { name: 'interface flush', input: 'flush interface ov-n2 up false', want: { kind: 'interface', action: 'flush', interface: { name: 'ov-n2', up: false } } },
  {
    name: 'neighbour with rtt',
    input: 'add neighbour 559382550680 address fe80::c88a:f9d7:fd3b:48c6 if rn2cf797a6f7066 reach fe18 ureach 0000 rxcost 300 txcost 96 rtt 1.432 rttcost 0 cost 96',
    want: {
      kind: 'neighbour',
      action: 'add',
      neighbour: { id: '559382550680', address: 'fe80::c88a:f9d7:fd3b:48c6', ifName: 'rn2cf797a6f7066', reach: 0xfe18, ureach: 0, rxcost: 300, txcost: 96, rttMs: 1.432, rttCost: 0, cost: 96 },
    },
  },
  {
    name: 'new neighbour without rtt',
    input: 'add neighbour 564091e945f0 address fe80::2:1 if ov-n2 reach 0000 ureach 0000 rxcost 65535 txcost 65535 cost 65535',
    want: {
      kind: 'neighbour',
      action: 'add',
      neighbour: { id: '564091e945f0', address: 'fe80::2:1', ifName: 'ov-n2', reach: 0, ureach: 0, rxcost: 65535, txcost: 65535, cost: 65535 },
    },
  },
  {
    name: 'installed route',
    input: 'add route 55938254fc00 prefix fdf5:2127:3c00:2::/64 from ::/0 installed yes id f2:40:56:ff:fe:ca:0c:73 metric 96 refmetric 0 via fe80::c88a:f9d7:fd3b:48c6 if rn2cf797a6f7066',
    want: {
      kind: 'route',
      action: 'add',
      route: { id: '55938254fc00', prefix: 'fdf5:2127:3c00:2::/64', from: '::/0', installed: true, routerId: 'f2:40:56:ff:fe:ca:0c:73', metric: 96, refmetric: 0, via: 'fe80::c88a:f9d7:fd3b:48c6', ifName: 'rn2cf797a6f7066' },
    },
  },
  {
    name: 'xroute',
    input: 'add xroute fd77:0:0:1::/64-::/0 prefix fd77:0:0:1::/64 from ::/0 metric 0',
    want: { kind: 'xroute', action: 'add', xroute: { id: 'fd77:0:0:1::/64-::/0', prefix: 'fd77:0:0:1::/64', from: '::/0', metric: 0 } },
  },
  {
    name: 'unknown keys are skipped',
    input: 'change interface x up true ipv6 fe80::1 flavour mint',
    want: { kind: 'interface', action: 'change', interface: { name: 'x', up: true, ipv6: 'fe80::1' } },
  },
  { name: 'unknown verb', input: 'frobnicate route 1', want: { kind: 'unknown', line: 'frobnicate route 1', reason: 'unknown verb frobnicate' } },
  { name: 'unknown object', input: 'add filter 1 foo bar', want: { kind: 'unknown', line: 'add filter 1 foo bar', reason: 'unknown object filter' } },
  { name: 'empty', input: '', want: { kind: 'unknown', line: '', reason: 'empty line' } },
];

for (const row of table) {
  test(`parseBabelLine: ${row.name}`, (t) => t.deepEqual(parseBabelLine(row.input), row.want));
}

const malformed = [
  'add route 1 prefix fd00::/64 installed maybe id x metric 1 via fe80::1 if a',
  'add neighbour 1 address fe80::1 if a reach zzzz rxcost 1 txcost 1 cost 1',
  'add neighbour 1 address fe80::1 if a reach 0000 rxcost -5 txcost 1 cost 1',
  'add interface x',
  'add route',
  'change xroute 1 prefix p metric NaN',
  'add route 1 prefix fd00::/64 metric 99999999999999999999',
];
for (const input of malformed) {
  test(`parseBabelLine: malformed → unknown: ${input}`, (t) => t.is(parseBabelLine(input).kind, 'unknown'));
}

test('parseBabelLine never throws on random input', (t) => {
  let seed = 42;
  const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const vocab = ['add', 'change', 'flush', 'route', 'neighbour', 'interface', 'xroute', 'up', 'true', 'metric', 'if', 'via', '\u0000', '::', '\t', 'prefix', '65535', 'ok', 'BABEL'];
  for (let i = 0; i < 5000; i++) {
    const n = Math.floor(rand() * 12);
    const line = Array.from({ length: n }, () => (rand() < 0.8 ? vocab[Math.floor(rand() * vocab.length)]! : String.fromCharCode(Math.floor(rand() * 0xffff)))).join(' ');
    t.notThrows(() => parseBabelLine(line));
  }
});

for (const fixture of ['babeld-1.12.1-dump.txt', 'babeld-1.12.1-monitor.txt', 'babeld-1.12.1-monitor-netlab.txt', 'babeld-1.12.1-config.txt']) {
  test(`every line babeld printed in ${fixture} is understood`, (t) => {
    const tr = readTranscript(fixture);
    t.true(tr.received.length > 5);
    const unknown = tr.received.map(parseBabelLine).filter((e) => e.kind === 'unknown');
    t.deepEqual(unknown, []);
  });

  test(`in ${fixture}, the raw check for a reply's last line agrees with the parser`, (t) => {
    const lines = readTranscript(fixture).received;
    t.true(lines.some(isReplyEndLine));
    for (const line of lines) t.is(isReplyEndLine(line), isReplyEnd(parseBabelLine(line)), line);
  });
}
