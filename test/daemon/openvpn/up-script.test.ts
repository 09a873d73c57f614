// Integration: the --up script run for real, as openvpn runs it, on a tun device in a
// network namespace this test creates and always removes.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeUpScript } from '../../../daemon/openvpn/up-script.js';
import { runFile } from '../../../daemon/sys/run-file.js';

const ns = `rnup${randomBytes(3).toString('hex')}`;
const dev = 'rnuptest0';
const dir = mkdtempSync(join(tmpdir(), 'rn-up-'));

async function inNs(argv: string[], env: Record<string, string> = {}): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const vars = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  return runFile('ip', ['netns', 'exec', ns, 'env', ...vars, ...argv], { timeoutMs: 30_000 });
}

async function must(argv: string[]): Promise<string> {
  const out = await runFile(argv[0]!, argv.slice(1), { timeoutMs: 30_000 });
  if (out.exitCode !== 0) throw new Error(`${argv.join(' ')}: ${out.stderr}`);
  return out.stdout;
}

test.before(async () => {
  await must(['ip', 'netns', 'add', ns]);
  await must(['ip', '-n', ns, 'tuntap', 'add', 'dev', dev, 'mode', 'tun']);
});

test.after.always(async () => {
  await runFile('ip', ['netns', 'del', ns], { timeoutMs: 30_000 });
  rmSync(dir, { recursive: true, force: true });
});

test.serial('the up script gives the tun our link-local and no kernel-made one, the MTU, and sets it up', async (t) => {
  const script = writeUpScript(dir);
  const run = await inNs([script, dev, '1380', '0', 'init'], { LL: 'fe80::1234:5' });
  t.is(run.exitCode, 0, run.stderr);
  const mode = await inNs(['cat', `/proc/sys/net/ipv6/conf/${dev}/addr_gen_mode`]);
  t.is(mode.stdout.trim(), '1');
  const addr = await inNs(['ip', '-6', '-o', 'addr', 'show', 'dev', dev]);
  const addresses = [...addr.stdout.matchAll(/inet6 (\S+)/g)].map((m) => m[1]);
  t.deepEqual(addresses, ['fe80::1234:5/64']);
  const link = await inNs(['ip', '-o', 'link', 'show', 'dev', dev]);
  t.regex(link.stdout, /mtu 1380\b/);
  t.regex(link.stdout, /<[^>]*\bUP\b[^>]*>/);
  // Run again (openvpn restarts call it on the same device): still one address, still ok.
  const again = await inNs([script, dev, '1380', '0', 'init'], { LL: 'fe80::1234:5' });
  t.is(again.exitCode, 0, again.stderr);
  const addr2 = await inNs(['ip', '-6', '-o', 'addr', 'show', 'dev', dev]);
  t.deepEqual([...addr2.stdout.matchAll(/inet6 (\S+)/g)].map((m) => m[1]), ['fe80::1234:5/64']);
});

test.serial('the up script fails when the address cannot be set (openvpn then stops the tunnel)', async (t) => {
  const script = writeUpScript(dir);
  const run = await inNs([script, dev, '1380', '0', 'init'], { LL: 'not-an-address' });
  t.not(run.exitCode, 0);
});
