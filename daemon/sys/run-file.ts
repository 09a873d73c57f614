// Runs one program without a shell and collects its output: the small part of
// a process library the daemon needs (node:child_process only, which keeps the
// daemon's start-up light). Never throws.
import { spawn } from 'node:child_process';

export interface RunFileResult {
  /** -1 when it could not be started, timed out or was killed. */
  exitCode: number;
  stdout: string;
  stderr: string;
}

export function runFile(file: string, args: readonly string[], options: { input?: string; timeoutMs?: number; signal?: AbortSignal } = {}): Promise<RunFileResult> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let settled = false;
    const done = (r: RunFileResult): void => {
      if (settled) return;
      settled = true;
      resolve(r);
    };
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(file, [...args], {
        stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
        timeout: options.timeoutMs ?? 10_000,
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (err) {
      return done({ exitCode: -1, stdout: '', stderr: err instanceof Error ? err.message : String(err) });
    }
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err) => done({ exitCode: -1, stdout, stderr: stderr || err.message }));
    child.on('close', (code, signal) => done({ exitCode: code ?? -1, stdout, stderr: signal && !stderr ? `killed by ${signal}` : stderr }));
    if (options.input !== undefined && child.stdin) {
      child.stdin.on('error', () => undefined);
      child.stdin.end(options.input);
    }
  });
}
