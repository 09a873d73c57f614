import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { ProcFile } from '../../../daemon/sys/proc-file.js';
import { parseNetDev } from '../../../daemon/sys/netdev.js';

test('a /proc file read through one descriptor shows the kernel state of each moment', async (t) => {
  const file = new ProcFile('/proc/net/dev');
  t.teardown(() => file.close());
  const loPackets = (): number => parseNetDev(file.read()).get('lo')?.rxPackets ?? NaN;
  const before = loPackets();
  t.false(Number.isNaN(before), 'lo listed');
  const socket = createSocket('udp4');
  t.teardown(() => socket.close());
  await new Promise<void>((resolve, reject) => socket.send('x', 9, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
  t.true(loPackets() > before, 'the datagram sent over lo is counted in the next reading');
});

test('a text larger than the buffer is read whole, and a changed file afresh', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rn-procfile-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'f');
  const big = 'line of text\n'.repeat(500);
  writeFileSync(path, big);
  const file = new ProcFile(path, 64);
  t.teardown(() => file.close());
  t.is(file.read(), big);
  writeFileSync(path, 'short\n');
  t.is(file.read(), 'short\n');
});

test('a file that cannot be opened throws, and is read once it exists', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rn-procfile-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'later');
  const file = new ProcFile(path);
  t.teardown(() => file.close());
  t.throws(() => file.read(), { code: 'ENOENT' });
  writeFileSync(path, 'now\n');
  t.is(file.read(), 'now\n');
});
