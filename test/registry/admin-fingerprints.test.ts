// [status] admin_fingerprints in registry.toml: a malformed entry stops the registry at
// start with the file, the key, the entry and what to write.
import test, { type ExecutionContext } from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { pino } from 'pino';
import { ConfigError } from '../../config/errors.js';
import { initRegistry } from '../../registry/init.js';
import { startRegistry } from '../../registry/main.js';
import { parseRegistryConfig, registryPath } from '../../registry/registry-config.js';
import { runCli, tempDir } from './cli-harness.js';

const minimal = '[network]\nprefix = "fd00:1::/48"\nnode_prefix_length = 64\n';
const GOOD = `sha256:${'ab'.repeat(32)}`;
const EXPECTED = /status\.admin_fingerprints\.1: "sha256:nothex" is not a certificate fingerprint: write "sha256:" and the 64 hex digits/;

test('good fingerprints load as written (either form); a bad one names the key, the entry and what to write', (t) => {
  const colons = `SHA256:${'AB:'.repeat(31)}AB`;
  t.deepEqual(parseRegistryConfig(`${minimal}[status]\nadmin_fingerprints = ["${GOOD}", "${colons}"]\n`, '/r.toml').status.admin_fingerprints, [GOOD, colons]);
  const err = t.throws(() => parseRegistryConfig(`${minimal}[status]\nadmin_fingerprints = ["${GOOD}", "sha256:nothex"]\n`, '/r.toml'), { instanceOf: ConfigError });
  t.regex(err.message, /^config invalid at \/r\.toml: /);
  t.regex(err.message, EXPECTED);
});

async function registryWithBadFingerprint(t: ExecutionContext): Promise<string> {
  const dir = tempDir(t, 'admin-fp');
  await initRegistry({ dir, prefix: 'fd42:78::/48', nodePrefixLength: 64, certDays: 20, nowMs: Date.now() });
  const path = registryPath(dir, 'config');
  const text = readFileSync(path, 'utf8');
  t.true(text.includes('admin_fingerprints = []'));
  writeFileSync(path, text.replace('admin_fingerprints = []', `admin_fingerprints = ["${GOOD}", "sha256:nothex"]`));
  return dir;
}

test('startRegistry refuses a registry.toml with a bad admin fingerprint', async (t) => {
  const dir = await registryWithBadFingerprint(t);
  const err = await t.throwsAsync(startRegistry({ dir, listen: '127.0.0.1:0', metricsListen: '', log: pino({ level: 'silent' }) }), { instanceOf: ConfigError });
  t.true(err.message.includes(registryPath(dir, 'config')));
  t.regex(err.message, EXPECTED);
});

test('`registry serve` exits at start with the same message', async (t) => {
  const dir = await registryWithBadFingerprint(t);
  const run = await runCli(['registry', 'serve', '--dir', dir, '--listen', '127.0.0.1:0', '--metrics-listen', '']);
  t.not(run.code, 0);
  t.regex(run.stderr, EXPECTED);
});
