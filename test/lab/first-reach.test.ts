import test from 'ava';
import { EventEmitter } from 'node:events';
import { echoPeriodMs, fpingLoopArgs, pairKey, parseStampedLine, watchFirstReach } from '../../lab/first-reach.js';

test('fping lines: an answer gives the send time of its echo, a time-out null, anything else nothing', (t) => {
  const a = parseStampedLine('[1796550151.95889] fd00::1  : [0], 64 bytes, 0.048 ms (0.048 avg, 0% loss)');
  t.is(a?.address, 'fd00::1');
  t.true(Math.abs((a?.sentAtMs ?? 0) - 1796550151958.842) < 0.01);
  t.deepEqual(parseStampedLine('[1796550152.46944] fd00::2 : [3], timed out (NaN avg, 100% loss)'), { address: 'fd00::2', sentAtMs: null });
  t.is(parseStampedLine('[garbage] fd00::9 : [0], 64 bytes, 1 ms'), undefined);
  t.is(parseStampedLine('fd00::1 : xmt/rcv/%loss = 2/2/0%'), undefined);
  t.is(parseStampedLine('fd00::7: error while sending ping: No route to host'), undefined);
});

test('echoes every 100 ms per pair up to 100 pairs, then spread to about a thousand a second, at most every 5 s', (t) => {
  t.deepEqual([1, 56, 100, 240, 4032, 9000].map(echoPeriodMs), [100, 100, 100, 240, 4032, 5000]);
  t.deepEqual(fpingLoopArgs(['fd00::1'], 100, 3000), ['fping', '-6', '-D', '-l', '-i', '5', '-p', '100', '-t', '3000', 'fd00::1']);
});

interface FakeChild extends EventEmitter {
  stdout: EventEmitter;
  stderr: EventEmitter;
  kills: string[];
  kill: (s: string) => boolean;
  argv: string[];
}

function fakeSpawner() {
  const children: FakeChild[] = [];
  const spawn = (argv: string[]) => {
    const c = new EventEmitter() as FakeChild;
    c.stdout = new EventEmitter();
    c.stderr = new EventEmitter();
    c.kills = [];
    c.kill = (s: string) => (c.kills.push(s), true);
    c.argv = argv;
    children.push(c);
    return c as never;
  };
  const say = (c: FakeChild | undefined, ...lines: string[]) => c!.stdout.emit('data', lines.map((l) => `${l}\n`).join(''));
  return { spawn, children, say };
}

const node = (name: string, n: number) => ({ name, netns: `ns-${name}`, overlay: `fd00:0:0:${n}::1` });

test('each pair is timed by its first answered echo; a source stops once all its targets answered', async (t) => {
  const f = fakeSpawner();
  const nodes = [node('n1', 1), node('n2', 2), node('n3', 3)];
  const w = watchFirstReach(nodes, [['n1', 'n2'], ['n1', 'n3'], ['n2', 'n1']], { spawn: f.spawn });
  t.is(f.children.length, 2);
  t.deepEqual(f.children[0]!.argv.slice(0, 5), ['ip', 'netns', 'exec', 'ns-n1', 'fping']);
  t.deepEqual(f.children[0]!.argv.slice(-2), ['fd00:0:0:2::1', 'fd00:0:0:3::1']);
  // A time-out, then answers; a later answer of a pair does not move its time; the line may come in two pieces.
  f.say(f.children[0], '[1000.000] fd00:0:0:2::1 : [0], timed out (NaN avg, 100% loss)', '[1000.300] fd00:0:0:2::1 : [1], 64 bytes, 100.0 ms (100.0 avg, 50% loss)');
  f.say(f.children[0], '[1000.400] fd00:0:0:2::1 : [2], 64 bytes, 1.0 ms (50.5 avg, 33% loss)');
  t.deepEqual(f.children[0]!.kills, []);
  f.children[0]!.stdout.emit('data', '[1000.250] fd00:0:0:3::1 : [0], 64 by');
  f.children[0]!.stdout.emit('data', 'tes, 50.0 ms (50.0 avg, 0% loss)\n');
  t.deepEqual(f.children[0]!.kills, ['SIGTERM']);
  f.say(f.children[1], '[2000.000] fd00:0:0:1::1 : [0], 64 bytes, 0.5 ms (0.5 avg, 0% loss)');
  await w.done;
  t.deepEqual(Object.fromEntries(w.reachedAt), { [pairKey('n1', 'n2')]: 1000200, [pairKey('n1', 'n3')]: 1000200, [pairKey('n2', 'n1')]: 1999999.5 });
  w.stop();
});

test('stop() ends every probe; pairs that never answered have no time', async (t) => {
  const f = fakeSpawner();
  const w = watchFirstReach([node('n1', 1), node('n2', 2)], [['n1', 'n2'], ['n2', 'n1']], { spawn: f.spawn });
  f.say(f.children[0], '[1000.000] fd00:0:0:2::1 : [0], 64 bytes, 1.0 ms (1.0 avg, 0% loss)');
  w.stop();
  t.deepEqual(f.children.map((c) => c.kills), [['SIGTERM'], ['SIGTERM']]);
  t.deepEqual([...w.reachedAt.keys()], [pairKey('n1', 'n2')]);
});

test('a missing fping says what to install; an fping that ended by itself is started again for the targets left', async (t) => {
  const f = fakeSpawner();
  const w = watchFirstReach([node('n1', 1), node('n2', 2), node('n3', 3)], [['n1', 'n2'], ['n1', 'n3'], ['n2', 'n1']], { spawn: f.spawn });
  f.say(f.children[0], '[1000.000] fd00:0:0:2::1 : [0], 64 bytes, 1.0 ms (1.0 avg, 0% loss)');
  f.children[0]!.emit('exit', null);
  await new Promise((r) => setTimeout(r, 400));
  t.is(f.children.length, 3);
  t.deepEqual(f.children[2]!.argv.slice(-1), ['fd00:0:0:3::1']);
  f.children[1]!.stderr.emit('data', 'exec of "fping" failed: No such file or directory\n');
  f.children[1]!.emit('exit', 255);
  const err = await t.throwsAsync(w.done);
  t.is((err as { code?: string }).code, 'RN_LAB_TOOL_MISSING');
  t.regex(err?.message ?? '', /apt-get install --no-install-recommends fping/);
  w.stop();
});
