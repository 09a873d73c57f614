// The unit files are checked by systemd itself, with ExecStart pointed at this
// checkout's bin/resilnet (the installed path does not exist on a test machine).
// systemd-analyze is required: scripts/setup.sh installs it (Debian package systemd).
import test, { type ExecutionContext } from 'ava';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runFile } from '../../daemon/sys/run-file.js';

const repo = resolve(import.meta.dirname, '../..');

/** `systemd-analyze verify` on a unit with this text: its exit code and everything it printed. */
async function verify(t: ExecutionContext, name: string, text: string): Promise<{ exitCode: number; output: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'rn-unit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, name);
  writeFileSync(path, text);
  const r = await runFile('systemd-analyze', ['verify', path], { timeoutMs: 60_000 });
  if (r.exitCode === -1 && /ENOENT/.test(r.stderr)) {
    throw new Error('systemd-analyze is not installed: run scripts/setup.sh (it installs the Debian package systemd), or apt-get install systemd');
  }
  return { exitCode: r.exitCode, output: `${r.stdout}${r.stderr}`.trim() };
}

for (const unit of ['resilnet.service', 'resilnet-registry.service']) {
  test(`systemd-analyze verify accepts ${unit}`, async (t) => {
    const text = readFileSync(join(repo, 'systemd', unit), 'utf8');
    t.regex(text, /^ExecStart=\/usr\/local\/bin\/resilnet /m);
    t.regex(text, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
    const r = await verify(t, unit, text.replaceAll('/usr/local/bin/resilnet', join(repo, 'bin/resilnet')));
    t.deepEqual(r, { exitCode: 0, output: '' }, `systemd-analyze verify ${unit}`);
  });
}

// The check above is only worth something if verify really reads the file: a broken unit must fail it.
test('systemd-analyze verify rejects a unit with an unknown key and a missing program', async (t) => {
  const r = await verify(t, 'broken.service', '[Service]\nExecStart=/nonexistent/resilnet daemon\nNoSuchKey=1\n');
  t.not(r.exitCode, 0);
  t.regex(r.output, /Unknown key 'NoSuchKey'/);
  t.regex(r.output, /\/nonexistent\/resilnet is not executable/);
});

// The exposure systemd computes for each unit as shipped; docs/operations.md shows the figures.
for (const [unit, most] of [['resilnet.service', 2.3], ['resilnet-registry.service', 1.3]] as const) {
  test(`systemd-analyze security rates ${unit} at most ${most}`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'rn-unit-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, unit);
    writeFileSync(path, readFileSync(join(repo, 'systemd', unit), 'utf8').replaceAll('/usr/local/bin/resilnet', join(repo, 'bin/resilnet')));
    const r = await runFile('systemd-analyze', ['security', '--offline=true', '--no-pager', path], { timeoutMs: 60_000 });
    if (r.exitCode === -1 && /ENOENT/.test(r.stderr)) throw new Error('systemd-analyze is not installed: run scripts/setup.sh, or apt-get install systemd');
    const level = new RegExp(`Overall exposure level for ${unit.replace('.', '\\.')}: (\\d+\\.\\d)`).exec(r.stdout);
    t.truthy(level, `no exposure level in: ${r.stdout.slice(-400)}${r.stderr}`);
    t.true(Number(level![1]) <= most, `${unit}: ${level![1]}`);
  });
}

test('the node unit reports readiness and is watched', (t) => {
  const text = readFileSync(join(repo, 'systemd', 'resilnet.service'), 'utf8');
  for (const line of ['Type=notify', 'NotifyAccess=all', 'WatchdogSec=120', 'SyslogLevelPrefix=yes']) t.regex(text, new RegExp(`^${line}$`, 'm'));
});
