// Runs commands for the lab: a small runner seam (so plans can be checked with a
// fake), the executor that walks a plan and stops at the first failure with
// the full command and its stderr, and the environment of `lab exec`.
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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
          // Killed at its time limit: say so (a loaded machine), not a bare "exit 127".
          const killed = err !== null && (err as { killed?: boolean }).killed === true;
          const why = killed ? `timed out after ${Math.round((options.timeoutMs ?? 60_000) / 1000)} s (killed)` : err && code === 127 ? String(err.message) : '';
          resolve({ code, stdout, stderr: [stderr, why].filter(Boolean).join('\n') });
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

// ---- what `resilnet lab exec` gives the command it runs -------------------------

/** Names the node config for `resilnet` commands (the CLI reads it when --config is not given). */
export const LAB_CONFIG_ENV = 'RESILNET_CONFIG';

/** A POSIX sh script that runs `argv` with its own arguments appended. */
export function wrapperScript(argv: readonly string[]): string {
  const quoted = argv.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  return `#!/bin/sh\n# Written by resilnet lab exec: this checkout's resilnet.\nexec ${quoted} "$@"\n`;
}

/** Writes BIN_DIR/resilnet (mode 0755) running `argv`; returns its path. */
export function writeResilnetWrapper(binDir: string, argv: readonly string[]): string {
  mkdirSync(binDir, { recursive: true });
  const path = join(binDir, 'resilnet');
  writeFileSync(path, wrapperScript(argv), { mode: 0o755 });
  chmodSync(path, 0o755);
  return path;
}

/**
 * The environment for a command in a lab host: BIN_DIR first on PATH (so
 * `resilnet` is the lab's own build), and on a node RESILNET_CONFIG set to that
 * node's resilnet.toml (so `resilnet peers --dead` needs no path).
 */
export function labExecEnv(base: NodeJS.ProcessEnv, options: { binDir: string; config?: string }): NodeJS.ProcessEnv {
  const path = [options.binDir, ...(base.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(':').filter((p) => p !== options.binDir)];
  const env: NodeJS.ProcessEnv = { ...base, PATH: path.join(':') };
  if (options.config === undefined) delete env[LAB_CONFIG_ENV];
  else env[LAB_CONFIG_ENV] = options.config;
  return env;
}
