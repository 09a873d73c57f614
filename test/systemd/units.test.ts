// The unit files are checked by systemd itself, with ExecStart pointed at this
// checkout's bin/resilnet (the installed path does not exist on a test machine).
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const repo = resolve(import.meta.dirname, '../..');

for (const unit of ['resilnet.service', 'resilnet-registry.service']) {
  test(`systemd-analyze verify accepts ${unit}`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'rn-unit-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const text = readFileSync(join(repo, 'systemd', unit), 'utf8');
    t.regex(text, /^ExecStart=\/usr\/local\/bin\/resilnet /m);
    t.regex(text, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
    const path = join(dir, unit);
    writeFileSync(path, text.replaceAll('/usr/local/bin/resilnet', join(repo, 'bin/resilnet')));
    const { stdout, stderr } = await run('systemd-analyze', ['verify', path]).catch((err) => err);
    t.is(`${stdout}${stderr}`.trim(), '', `systemd-analyze verify ${unit}`);
  });
}
