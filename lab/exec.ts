// Runs commands for the lab: a small runner seam (so plans can be checked with a
// fake) and the executor that walks a plan and stops at the first failure with
// the full command and its stderr.
import { execFile } from 'node:child_process';
import { LabError } from './errors.js';
import { resolveArgv } from './preflight.js';
import type { LabStep } from './topology.js';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CommandRunner {
  run(argv: string[], options?: { stdin?: string; timeoutMs?: number }): Promise<RunResult>;
}

export const realRunner: CommandRunner = {
  run(argv, options = {}) {
    return new Promise((resolve) => {
      const [file, ...args] = resolveArgv(argv);
      const child = execFile(
        file ?? 'false',
        args,
        { timeout: options.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
        (err, stdout, stderr) => {
          const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 127) : 0;
          resolve({ code, stdout, stderr: stderr || (err && code === 127 ? String(err.message) : '') });
        },
      );
      if (options.stdin !== undefined) child.stdin?.end(options.stdin);
      else child.stdin?.end();
    });
  },
};

/** Runs a command and throws RN_LAB_STEP_FAILED with its stderr when it fails. */
export async function runChecked(runner: CommandRunner, argv: string[], options: { stdin?: string; timeoutMs?: number } = {}): Promise<string> {
  const r = await runner.run(argv, options);
  if (r.code !== 0) {
    throw new LabError('RN_LAB_STEP_FAILED', `command failed: ${argv.join(' ')} (exit ${r.code}: ${r.stderr.trim().split('\n').slice(-3).join(' / ') || 'no output'}).`, {
      details: { argv, code: r.code, stderr: r.stderr, stdout: r.stdout },
    });
  }
  return r.stdout;
}

export async function executePlan(
  steps: LabStep[],
  runner: CommandRunner,
  options: { ignoreErrors?: boolean; onStep?: (step: LabStep) => void } = {},
): Promise<RunResult[]> {
  const results: RunResult[] = [];
  for (const step of steps) {
    options.onStep?.(step);
    if (options.ignoreErrors) {
      results.push(await runner.run(step.argv, step.stdin === undefined ? {} : { stdin: step.stdin }));
    } else {
      const stdout = await runChecked(runner, step.argv, step.stdin === undefined ? {} : { stdin: step.stdin });
      results.push({ code: 0, stdout, stderr: '' });
    }
  }
  return results;
}
