// Files only their owner may read, whatever the umask: the registry folder
// (CA key, store with token hashes, e-mails and addresses) and a node's key.
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';

const PRIVATE_DIR = 0o700;
const PRIVATE_FILE = 0o600;

/** "0644" for a mode's permission bits. */
export function modeText(mode: number): string {
  return `0${(mode & 0o777).toString(8).padStart(3, '0')}`;
}

/** Sets `wanted` when group or others have any access; returns the old mode when it changed. */
function tighten(path: string, wanted: number): number | undefined {
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) === 0) return undefined;
  chmodSync(path, wanted);
  return mode;
}

/** Creates `dir` with mode 0700, or tightens an existing one; says what it changed. */
export function ensurePrivateDir(dir: string): string | undefined {
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR });
    chmodSync(dir, PRIVATE_DIR); // mkdir's mode is masked by the umask
    return undefined;
  }
  const old = tighten(dir, PRIVATE_DIR);
  return old === undefined ? undefined : `${dir} had mode ${modeText(old)}; set to ${modeText(statSync(dir).mode)} (it holds the CA key and the store)`;
}

/** Creates `path` empty with mode 0600 when missing; sets 0600 on it when group or others could read it. */
export function ensurePrivateFile(path: string): string | undefined {
  if (!existsSync(path)) {
    closeSync(openSync(path, 'a', PRIVATE_FILE));
    chmodSync(path, PRIVATE_FILE);
    return undefined;
  }
  const old = tighten(path, PRIVATE_FILE);
  return old === undefined ? undefined : `${path} had mode ${modeText(old)}; set to ${modeText(statSync(path).mode)}`;
}
