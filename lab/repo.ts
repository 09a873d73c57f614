// Where the resilnet checkout is, and how the lab runs the real CLI from it.
import { existsSync, readFileSync } from 'node:fs';
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

/** argv prefix that runs the compiled CLI (bin/resilnet needs `npm run build`), with the node flags of its #! line. */
export function resilnetArgv(repo: string): string[] {
  const bin = join(repo, 'bin', 'resilnet');
  return [process.execPath, ...shebangNodeFlags(readFileSync(bin, 'utf8')), bin];
}

/** The node flags of a `#!/usr/bin/env -S node FLAGS` first line (none for a plain `#!/usr/bin/env node`). */
export function shebangNodeFlags(script: string): string[] {
  const first = script.split('\n', 1)[0] ?? '';
  const m = /^#!\S*env\s+(?:-S\s+)?node((?:\s+--[\w-]+(?:=\S+)?)*)\s*$/.exec(first);
  return m ? (m[1] as string).split(/\s+/).filter(Boolean) : [];
}
