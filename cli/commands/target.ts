// Which node a read command talks to: the control socket and the node config
// (--socket, --config, $RESILNET_CONFIG, the defaults), the options that choose
// them, and the fallback to the node's files when the daemon does not answer.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { ResilnetError } from '../../config/errors.js';
import { DEFAULT_CONFIG_PATH, loadNodeConfig } from '../../config/node-config.js';

/** Where the daemon listens when there is no config to say otherwise. */
export const DEFAULT_CONTROL_SOCKET = '/run/resilnet/control.sock';

/** Names the node config when --config does not (`resilnet lab exec` sets it to the node's config). */
export const CONFIG_ENV = 'RESILNET_CONFIG';

export interface TargetOptions {
  config?: string;
  socket?: string;
}

/** --config; else $RESILNET_CONFIG; else the default path (the only one that may be missing). */
export function configPath(opts: TargetOptions, env: NodeJS.ProcessEnv = process.env): { path: string; explicit: boolean } {
  const given = opts.config ?? (env[CONFIG_ENV] || undefined);
  return given === undefined ? { path: DEFAULT_CONFIG_PATH, explicit: false } : { path: resolve(given), explicit: true };
}

/** --socket wins; else the config's control.socket; else the default socket. */
export function resolveControlSocket(opts: TargetOptions, env: NodeJS.ProcessEnv = process.env): string {
  if (opts.socket) return resolve(opts.socket);
  const { path, explicit } = configPath(opts, env);
  try {
    return loadNodeConfig(path).control.socket;
  } catch (err) {
    // Only a missing default config falls back; an explicit or broken file is an error.
    if (!explicit && !existsSync(path)) return DEFAULT_CONTROL_SOCKET;
    throw err;
  }
}

/**
 * Why the daemon's answer is missing, when that is a reason to show what is on disk
 * instead (no socket, refused, timed out, still starting); undefined for other errors.
 */
export function notAnsweringReason(err: unknown): string | undefined {
  if (!(err instanceof ResilnetError)) return undefined;
  if (err.code === 'RN_DAEMON_NOT_READY') return 'still starting';
  if (err.code !== 'RN_DAEMON_UNREACHABLE') return undefined;
  const errno = (err.cause as NodeJS.ErrnoException | undefined)?.code;
  switch (errno) {
    case 'ENOENT': return 'no control socket';
    case 'ECONNREFUSED': return 'control socket refused the connection';
    case 'ETIMEDOUT': return 'no answer in time';
    default: return errno ?? 'no answer';
  }
}

/**
 * Asks the daemon; when it does not answer, `offline(config, reason)` reads the
 * node's files instead and a note on stderr says so. Errors of the fallback
 * itself come after the daemon's (which says how to reach it).
 */
export async function daemonOrFiles<T, U>(
  opts: TargetOptions,
  ask: () => Promise<T>,
  offline: (config: ReturnType<typeof loadNodeConfig>, reason: string) => U,
): Promise<{ daemon: T } | { offline: U }> {
  try {
    return { daemon: await ask() };
  } catch (err) {
    const reason = notAnsweringReason(err);
    if (reason === undefined) throw err;
    const { path } = configPath(opts);
    let config: ReturnType<typeof loadNodeConfig>;
    try {
      config = loadNodeConfig(path);
    } catch {
      throw err; // without a config there is no file to show: the daemon's error says what to do
    }
    return { offline: offline(config, reason) };
  }
}

export function withTarget(cmd: Command, json = true): Command {
  cmd
    .option('--config <path>', `node config, to find the control socket and the state dir (default $${CONFIG_ENV}, else ${DEFAULT_CONFIG_PATH})`)
    .option('--socket <path>', `control socket of the daemon (default: control.socket from the config, else ${DEFAULT_CONTROL_SOCKET})`);
  if (json) cmd.option('--json', 'print the control API response as JSON');
  return cmd;
}

export function example(cmd: Command, ...lines: string[]): Command {
  return cmd.addHelpText('after', `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`);
}

