// The registry folder and store are private whatever the umask, and folders or
// files left open to others are tightened with a note (issue 10, item 8).
import test from 'ava';
import { chmodSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RegistryDb } from '../../registry/db.js';
import { initRegistry } from '../../registry/init.js';
import { ensurePrivateDir, ensurePrivateFile, modeText } from '../../registry/private-files.js';
import { tempDir } from './cli-harness.js';

const mode = (path: string) => modeText(statSync(path).mode);

/** Runs fn under umask 0 (the loosest), restoring the old one. */
function withOpenUmask<T>(fn: () => T): T {
  const old = process.umask(0);
  try {
    return fn();
  } finally {
    process.umask(old);
  }
}

test('a new folder is 0700 and a new file 0600 under umask 0', (t) => {
  const root = tempDir(t, 'priv');
  withOpenUmask(() => {
    t.is(ensurePrivateDir(join(root, 'a', 'b')), undefined);
    t.is(ensurePrivateFile(join(root, 'a', 'b', 'f')), undefined);
  });
  t.is(mode(join(root, 'a', 'b')), '0700');
  t.is(mode(join(root, 'a', 'b', 'f')), '0600');
});

test('an existing 0755 folder and 0644 file are tightened, saying what they were', (t) => {
  const root = tempDir(t, 'priv');
  const dir = join(root, 'reg');
  mkdirSync(dir);
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, 'f'), 'x');
  chmodSync(join(dir, 'f'), 0o644);
  t.regex(ensurePrivateDir(dir) ?? '', /had mode 0755; set to 0700/);
  t.regex(ensurePrivateFile(join(dir, 'f')) ?? '', /had mode 0644; set to 0600/);
  t.is(mode(dir), '0700');
  t.is(mode(join(dir, 'f')), '0600');
  t.is(ensurePrivateDir(dir), undefined, 'nothing to say the second time');
});

test('the store and its WAL files are 0600 under umask 0; an old world-readable store is tightened', (t) => {
  const root = tempDir(t, 'priv');
  const path = join(root, 'registry.db');
  const db = withOpenUmask(() => {
    const opened = new RegistryDb(path);
    opened.setMeta('k', 'v'); // makes SQLite create -wal and -shm
    return opened;
  });
  t.deepEqual([mode(path), mode(`${path}-wal`), mode(`${path}-shm`)], ['0600', '0600', '0600']);
  t.deepEqual(db.tightened, []);
  db.close();

  chmodSync(path, 0o644);
  const again = new RegistryDb(path);
  t.teardown(() => again.close());
  t.is(again.tightened.length, 1);
  t.regex(again.tightened[0]!, /registry\.db had mode 0644; set to 0600/);
  t.is(mode(path), '0600');
  t.is(again.getMeta('k'), 'v');
});

test('registry init into an existing empty 0755 folder makes it 0700 and says so', async (t) => {
  const dir = join(tempDir(t, 'priv'), 'reg');
  mkdirSync(dir);
  chmodSync(dir, 0o755);
  const r = await initRegistry({ dir, prefix: 'fd42:77::/48', nodePrefixLength: 64, certDays: 30, nowMs: Date.now() });
  t.is(mode(dir), '0700');
  t.is(r.notes.length, 1);
  t.regex(r.notes[0]!, /had mode 0755; set to 0700/);
  t.is(mode(join(dir, 'registry.db')), '0600');
  t.is(mode(join(dir, 'ca.key')), '0600');
});
