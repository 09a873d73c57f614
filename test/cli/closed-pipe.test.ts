import test from 'ava';
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { endQuietlyOnClosedPipe } from '../../cli/closed-pipe.js';
import { REPO } from '../registry/cli-harness.js';

const ENTRY = 'test/registry/cli-entry.ts';

/** Runs the CLI from source with a stdout pipe whose reader is gone before the first write. */
function runWithClosedStdout(args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
}

for (const args of [['--help'], ['help', 'lab']]) {
  test(`resilnet ${args.join(' ')} into a closed pipe ends quietly with 0`, async (t) => {
    const r = await runWithClosedStdout(args);
    t.is(r.stderr, '');
    t.is(r.code, 0);
  });
}

test('endQuietlyOnClosedPipe: EPIPE exits with the given code; other errors are not swallowed', (t) => {
  const stream = new EventEmitter();
  const exits: number[] = [];
  endQuietlyOnClosedPipe([stream, { write: () => true }], (code) => exits.push(code));
  stream.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
  t.deepEqual(exits, [0]);
  t.throws(() => stream.emit('error', Object.assign(new Error('write EIO'), { code: 'EIO' })), { message: 'write EIO' });
  t.deepEqual(exits, [0]);
});
