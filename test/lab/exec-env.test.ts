import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONFIG_ENV } from '../../cli/commands/node.js';
import { LAB_CONFIG_ENV, labExecEnv, wrapperScript, writeResilnetWrapper } from '../../lab/exec.js';

test('labExecEnv: the wrapper dir first on PATH (once), RESILNET_CONFIG the node\'s config, nothing else changed', (t) => {
  const base = { PATH: '/lab/bin:/usr/bin:/bin', HOME: '/root', RESILNET_CONFIG: '/etc/other.toml' };
  t.deepEqual(labExecEnv(base, { binDir: '/lab/bin', config: '/tmp/resilnet-lab/x/n1/etc/resilnet.toml' }), {
    PATH: '/lab/bin:/usr/bin:/bin',
    HOME: '/root',
    RESILNET_CONFIG: '/tmp/resilnet-lab/x/n1/etc/resilnet.toml',
  });
  // A host that is not a node (reg, inet, a gateway) has no node config: none is passed on.
  t.deepEqual(labExecEnv(base, { binDir: '/other/bin' }), { PATH: '/other/bin:/lab/bin:/usr/bin:/bin', HOME: '/root' });
  t.is(labExecEnv({}, { binDir: '/b' }).PATH!.split(':')[0], '/b');
  t.deepEqual(base.PATH, '/lab/bin:/usr/bin:/bin'); // the caller's object is not touched
  t.is(LAB_CONFIG_ENV, CONFIG_ENV); // the name the CLI reads
});

test('the resilnet wrapper runs its argv with the caller\'s arguments, quoting kept', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rn-wrapper-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = writeResilnetWrapper(join(dir, 'bin'), [process.execPath, '-e', "console.log(JSON.stringify(process.argv.slice(1)))", "it's"]);
  t.is(statSync(path).mode & 0o777, 0o755);
  const out = execFileSync('sh', ['-c', 'resilnet peers "--dead" "a b"'], { env: labExecEnv(process.env, { binDir: join(dir, 'bin') }), encoding: 'utf8' });
  t.deepEqual(JSON.parse(out), ["it's", 'peers', '--dead', 'a b']);
  t.regex(wrapperScript(['/usr/bin/node', '/repo/bin/resilnet']), /^#!\/bin\/sh\n.*\nexec '\/usr\/bin\/node' '\/repo\/bin\/resilnet' "\$@"\n$/);
});
