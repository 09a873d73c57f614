// The registry fuzzer, small: a few hundred mutated HTTPS requests against a
// real registry process get no 5xx and no hang, and the store stays intact.
import test from 'ava';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO } from './cli-harness.js';

test('bench:fuzz-registry with 300 requests: only 2xx/4xx, no hang, integrity_check ok', async (t) => {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'bench', 'fuzz-registry.ts'), '--requests', '300', '--seed', '7'], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  t.is(code, 0, `${out}\n${err}`);
  const result = JSON.parse(out.trim().split('\n').at(-1)!) as {
    ok: boolean; requests: number; statuses: Record<string, number>; five_xx: number; hangs: number; integrity: string; alive_after: boolean;
  };
  t.true(result.ok);
  t.is(result.five_xx, 0);
  t.is(result.hangs, 0);
  t.is(result.integrity, 'ok');
  t.true(result.alive_after);
  t.is(Object.values(result.statuses).reduce((a, b) => a + b, 0), 300, 'every request is counted once');
  t.true((result.statuses['200'] ?? 0) > 0, 'valid requests succeed');
  t.true((result.statuses['400'] ?? 0) > 0, 'mutated requests are refused');
  t.regex(out, /^endpoint\s+200/m, 'the table is printed');
});
