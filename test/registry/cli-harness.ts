// Drives the real `resilnet` CLI: in-process through main(argv, io) for
// one-shot commands, and as a child process for `registry serve`.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../cli/main.js';
import { waitFor } from '../fixtures/wait.js';

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ENTRY = join(dirname(fileURLToPath(import.meta.url)), 'cli-entry.ts');

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runCli(argv: string[]): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const io = { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } };
  const before = process.exitCode;
  const code = await main(argv, io);
  process.exitCode = before;
  return { code, stdout, stderr };
}

export function tempDir(t: { teardown: (fn: () => void) => void }, tag: string): string {
  const dir = mkdtempSync(join(tmpdir(), `rn-${tag}-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface ServeHandle {
  url: string;
  port: number;
  child: ChildProcess;
  output: () => string;
  stop: () => Promise<void>;
}

/** Starts `resilnet registry serve` on 127.0.0.1 with a random free port. */
export async function spawnServe(t: { teardown: (fn: () => Promise<void> | void) => void }, dir: string): Promise<ServeHandle> {
  const ready = join(dir, 'ready.json');
  rmSync(ready, { force: true });
  const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, 'registry', 'serve', '--dir', dir, '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--ready-file', ready], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
  };
  t.teardown(stop);
  const info = await waitFor(() => {
    if (child.exitCode !== null) throw new Error(`serve exited with ${child.exitCode}: ${out}`);
    return existsSync(ready) ? (JSON.parse(readFileSync(ready, 'utf8')) as { url: string; port: number }) : undefined;
  }, { what: `registry serve to be ready (${out})`, timeoutMs: 180_000 }); // a loaded 2-core machine starts tsx slowly
  return { url: info.url, port: info.port, child, output: () => out, stop };
}
