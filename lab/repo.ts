// Where the resilnet checkout is, and how the lab runs the real CLI from it.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: the nearest folder above this file that has bin/resilnet. */
export function findRepo(start = dirname(fileURLToPath(import.meta.url))): string {
  let dir = start;
  for (;;) {
    if (existsSync(join(dir, 'bin', 'resilnet')) && existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the resilnet repository above ${start}`);
    dir = up;
  }
}

/** argv prefix that runs the compiled CLI (bin/resilnet needs `npm run build`). */
export function resilnetArgv(repo: string): string[] {
  return [process.execPath, join(repo, 'bin', 'resilnet')];
}
