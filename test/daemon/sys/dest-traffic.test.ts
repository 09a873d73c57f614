import test from 'ava';
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import {
  DestinationTrafficMeter,
  destTrafficRuleset,
  parseNftCounters,
  type NftResult,
} from '../../../daemon/sys/dest-traffic.js';
import { FakeClock } from '../../fakes/fake-clock.js';
import { HealthRegistry } from '../../../daemon/health/health.js';

/** The fixture: '#' header lines, then one line of `nft -j list table ip6 resilnet`. */
function fixture(name: string): { header: string[]; body: string } {
  const lines = readFileSync(new URL(`../../fixtures/${name}`, import.meta.url), 'utf8').split('\n');
  return { header: lines.filter((l) => l.startsWith('# ')), body: lines.filter((l) => l !== '' && !l.startsWith('# ')).join('\n') };
}

test('parses per-address counters from captured nft 1.0.6 output (a forwarding node)', (t) => {
  const { header, body } = fixture('nft-1.0.6-dest-traffic.json.txt');
  t.true(header.some((l) => l.startsWith('# version: nftables v1.0.6')));
  const m = parseNftCounters(body);
  t.deepEqual(Object.fromEntries(m), {
    // a → c forwarded by b: received from a, sent to c.
    'fd11:2233:1:1::1': { rxBytes: 4256, txBytes: 4264 },
    'fd11:2233:1:3::1': { rxBytes: 4192, txBytes: 4192 },
    'fd11:2233:1:9::2': { rxBytes: 280, txBytes: 208 },
  });
});

test('another table or set of the same names in another family is not read', (t) => {
  const { body } = fixture('nft-1.0.6-dest-traffic.json.txt');
  t.is(parseNftCounters(body, 'other').size, 0);
  const inet = body.replaceAll('"family": "ip6"', '"family": "inet"');
  t.is(parseNftCounters(inet).size, 0);
});

test('odd elements are skipped; text that is not nft JSON is RN_SYS_NFT_PARSE', (t) => {
  const doc = {
    nftables: [
      { metainfo: { version: '1.0.6' } },
      null,
      {
        set: {
          family: 'ip6',
          table: 'resilnet',
          name: 'dest_tx',
          elem: [
            'fd11::1', // no counter
            { elem: { val: 'not-an-address', counter: { packets: 1, bytes: 10 } } },
            { elem: { val: 'fd11::2', counter: { packets: 1, bytes: -5 } } },
            { elem: { val: 'fd11::3', counter: null } },
            { elem: { val: 'FD11:0:0::4', counter: { packets: 2, bytes: 100 } } },
            { elem: { val: 'fd11::4', counter: { packets: 1, bytes: 20 } } },
          ],
        },
      },
      { set: { family: 'ip6', table: 'resilnet', name: 'dest_rx', elem: 'nope' } },
    ],
  };
  t.deepEqual(Object.fromEntries(parseNftCounters(JSON.stringify(doc))), { 'fd11::4': { rxBytes: 0, txBytes: 120 } });
  t.throws(() => parseNftCounters('Error: No such file or directory'), { code: 'RN_SYS_NFT_PARSE' });
  t.throws(() => parseNftCounters('{"x": 1}'), { code: 'RN_SYS_NFT_PARSE' });
  t.is(parseNftCounters('{"nftables": []}').size, 0);
});

test('the ruleset replaces our own table atomically and counts only the overlay', (t) => {
  t.is(
    destTrafficRuleset({ networkPrefix: 'fd5e:0001::/48', maxAddresses: 100, idleTimeoutSec: 60 }),
    [
      'table ip6 resilnet {}',
      'delete table ip6 resilnet',
      'table ip6 resilnet {',
      '  set dest_tx {',
      '    type ipv6_addr',
      '    size 100',
      '    flags dynamic,timeout',
      '    timeout 60s',
      '  }',
      '  set dest_rx {',
      '    type ipv6_addr',
      '    size 100',
      '    flags dynamic,timeout',
      '    timeout 60s',
      '  }',
      '  chain sent {',
      '    type filter hook postrouting priority filter; policy accept;',
      '    ip6 daddr fd5e:1::/48 update @dest_tx { ip6 daddr counter }',
      '  }',
      '  chain received {',
      '    type filter hook prerouting priority filter; policy accept;',
      '    ip6 saddr fd5e:1::/48 update @dest_rx { ip6 saddr counter }',
      '  }',
      '}',
      '',
    ].join('\n'),
  );
  t.throws(() => destTrafficRuleset({ networkPrefix: 'fd5e:1::/48; flush ruleset' }), { code: 'RN_PREFIX_INVALID' });
  t.throws(() => destTrafficRuleset({ networkPrefix: 'fd5e:1::/48', table: 'x y' }), { code: 'RN_SYS_NFT_FAILED' });
});

function nftDoc(tx: Record<string, number>, rx: Record<string, number>): string {
  const set = (name: string, m: Record<string, number>) => ({
    set: { family: 'ip6', table: 'resilnet', name, elem: Object.entries(m).map(([val, bytes]) => ({ elem: { val, counter: { packets: 1, bytes } } })) },
  });
  return JSON.stringify({ nftables: [set('dest_tx', tx), set('dest_rx', rx)] });
}

test('the meter: table at start, rates per peer prefix from successive readings, table removed at stop', async (t) => {
  const clock = new FakeClock(0);
  const calls: Array<{ args: string[]; input?: string }> = [];
  let reading = nftDoc({}, {});
  const run = async (args: string[], input?: string): Promise<NftResult> => {
    calls.push({ args, ...(input === undefined ? {} : { input }) });
    return args[0] === '-j' ? { exitCode: 0, stdout: reading, stderr: '' } : { exitCode: 0, stdout: '', stderr: '' };
  };
  const meter = new DestinationTrafficMeter({ networkPrefix: 'fd5e:1::/48' }, { clock, log: pino({ level: 'silent' }), run, tauMs: 10_000 });
  await meter.start();
  t.true(meter.running);
  t.deepEqual(calls[0]!.args, ['-f', '-']);
  t.regex(calls[0]!.input!, /^table ip6 resilnet \{\}\ndelete table ip6 resilnet\n/);

  const peers = ['fd5e:1:0:2::/64', 'fd5e:1:0:3::/64'];
  await meter.sample(peers); // baseline
  t.is(meter.rates().size, 0);
  await clock.advance(5_000);
  reading = nftDoc({ 'fd5e:1:0:3::1': 500_000, 'fd5e:1:0:3::99': 100_000 }, { 'fd5e:1:0:3::1': 400_000 });
  await meter.sample(peers);
  t.deepEqual(calls.at(-1)!.args, ['-j', 'list', 'table', 'ip6', 'resilnet']);
  const r = meter.rates().get('fd5e:1:0:3::/64')!;
  const w = 1 - Math.exp(-0.5);
  t.is(Math.round(r.txBytesPerSec), Math.round(w * 120_000));
  t.is(Math.round(r.rxBytesPerSec), Math.round(w * 80_000));
  t.false(meter.rates().has('fd5e:1:0:2::/64'));

  // A failing read and garbage are logged, never thrown; the rates stay.
  reading = 'garbage';
  await clock.advance(5_000);
  await meter.sample(peers);
  t.is(meter.rates().get('fd5e:1:0:3::/64'), r);

  await meter.stop();
  t.deepEqual(calls.at(-1)!.args, ['delete', 'table', 'ip6', 'resilnet']);
  t.false(meter.running);
  await meter.stop();
  t.is(calls.filter((c) => c.args[0] === 'delete').length, 1, 'stop twice deletes once');
});

test('the meter: nft refusing the table is RN_SYS_NFT_FAILED with its stderr', async (t) => {
  const run = async (): Promise<NftResult> => ({ exitCode: 1, stdout: '', stderr: 'Error: Could not process rule: Operation not supported' });
  const meter = new DestinationTrafficMeter({ networkPrefix: 'fd5e:1::/48' }, { clock: new FakeClock(0), log: pino({ level: 'silent' }), run });
  const err = await t.throwsAsync(meter.start(), { code: 'RN_SYS_NFT_FAILED' });
  t.regex(err!.message, /cannot create the nftables table ip6 resilnet \(Error: Could not process rule: Operation not supported\)/);
  t.false(meter.running);
  await meter.sample(['fd5e:1:0:2::/64']);
  t.is(meter.rates().size, 0);
});

test('the meter: nft timing out at start is retried with backoff and a health warning, never thrown', async (t) => {
  const clock = new FakeClock(0);
  const log = pino({ level: 'silent' });
  const health = new HealthRegistry({ clock, log });
  const calls: string[][] = [];
  let slow = 2;
  const run = async (args: string[]): Promise<NftResult> => {
    calls.push(args);
    if (args[0] === '-f' && slow-- > 0) return { exitCode: -1, stdout: '', stderr: 'timed out after 10000 ms', timedOut: true };
    return { exitCode: 0, stdout: '', stderr: '' };
  };
  const meter = new DestinationTrafficMeter({ networkPrefix: 'fd5e:1::/48' }, { clock, log, run, health });
  await meter.start();
  t.false(meter.running);
  t.true(health.has('RN_SYS_NFT_SLOW'));
  await clock.advance(2_000);
  t.false(meter.running, 'the second try timed out too');
  await clock.advance(4_000);
  t.true(meter.running);
  t.false(health.has('RN_SYS_NFT_SLOW'));
  t.is(calls.filter((c) => c[0] === '-f').length, 3);
  await meter.stop();
  t.deepEqual(calls.at(-1), ['delete', 'table', 'ip6', 'resilnet']);
});

test('the meter: stopped while a timed-out create waits for its retry, the table is deleted anyway', async (t) => {
  const clock = new FakeClock(0);
  const calls: string[][] = [];
  const run = async (args: string[]): Promise<NftResult> => {
    calls.push(args);
    return args[0] === '-f' ? { exitCode: -1, stdout: '', stderr: 'timed out', timedOut: true } : { exitCode: 0, stdout: '', stderr: '' };
  };
  const meter = new DestinationTrafficMeter({ networkPrefix: 'fd5e:1::/48' }, { clock, log: pino({ level: 'silent' }), run });
  await meter.start();
  await meter.stop();
  await clock.advance(120_000);
  t.deepEqual(calls.map((c) => c[0]), ['-f', 'delete'], 'no retry after stop');
});
