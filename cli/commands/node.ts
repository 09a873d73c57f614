// Read and control commands of a running node: status, peers, tunnels, events,
// reload, and `config check FILE`. Each goes flags → request → control API
// call → render (or `--json`, which prints the API's response unchanged).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { Command } from 'commander';
import { parse as parseToml, TomlError } from 'smol-toml';
import { ConfigError, ResilnetError } from '../../config/errors.js';
import { DEFAULT_CONFIG_PATH, loadNodeConfig, nodeConfigSchema } from '../../config/node-config.js';
import { ControlClient } from '../../daemon/control/client.js';
import { DEFAULT_EVENTS_LIMIT, MAX_EVENTS_LIMIT, type PeersRequest } from '../../daemon/control/protocol.js';
import { writeJson, type CliIo } from '../io.js';
import {
  renderConfigCheck,
  renderEvents,
  renderPeers,
  renderReload,
  renderStatus,
  renderTunnels,
  type ConfigCheckResult,
} from './node-render.js';

/** Where the daemon listens when there is no config to say otherwise. */
export const DEFAULT_CONTROL_SOCKET = '/run/resilnet/control.sock';

interface TargetOptions {
  config?: string;
  socket?: string;
}

/** --socket wins; else the config's control.socket; else the default socket. */
export function resolveControlSocket(opts: TargetOptions): string {
  if (opts.socket) return resolve(opts.socket);
  const path = opts.config ?? DEFAULT_CONFIG_PATH;
  try {
    return loadNodeConfig(path).control.socket;
  } catch (err) {
    // Only a missing default config falls back; an explicit or broken file is an error.
    if (!opts.config && !existsSync(path)) return DEFAULT_CONTROL_SOCKET;
    throw err;
  }
}

export function toPeersRequest(opts: { dead?: boolean }): PeersRequest {
  return { dead: opts.dead === true };
}

export function toEventsLimit(text: string | undefined): number {
  if (text === undefined) return DEFAULT_EVENTS_LIMIT;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > MAX_EVENTS_LIMIT) {
    throw new ResilnetError('RN_CLI_USAGE', `--limit must be an integer 1…${MAX_EVENTS_LIMIT} (got "${text}")`);
  }
  return n;
}

function withTarget(cmd: Command, json = true): Command {
  cmd
    .option('--config <path>', `node config, to find the control socket (default ${DEFAULT_CONFIG_PATH})`)
    .option('--socket <path>', `control socket of the daemon (default: control.socket from the config, else ${DEFAULT_CONTROL_SOCKET})`);
  if (json) cmd.option('--json', 'print the control API response as JSON');
  return cmd;
}

function example(cmd: Command, ...lines: string[]): Command {
  return cmd.addHelpText('after', `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`);
}

export function registerNodeCommands(program: Command, io: CliIo): void {
  const client = (opts: TargetOptions) => new ControlClient({ socketPath: resolveControlSocket(opts) });

  example(
    withTarget(program.command('status').description('show this node: identity, network config in effect, peers, tunnels, babeld, registry, health')),
    'resilnet status',
    'resilnet status --json',
  ).action(async (opts: TargetOptions & { json?: boolean }) => {
    const res = await client(opts).status();
    if (opts.json) writeJson(io, res);
    else io.stdout.write(renderStatus(res, Date.now()));
  });

  example(
    withTarget(
      program
        .command('peers')
        .description('list the peers this node knows (from the peer DB), or with --dead why each dead one is dead')
        .option('--dead', 'only dead peers, with reason, since, failures and next retry'),
    ),
    'resilnet peers',
    'resilnet peers --dead --json',
  ).action(async (opts: TargetOptions & { json?: boolean; dead?: boolean }) => {
    const req = toPeersRequest(opts);
    const res = await client(opts).peers(req);
    if (opts.json) writeJson(io, res);
    else io.stdout.write(renderPeers(res, req, Date.now()));
  });

  example(
    withTarget(program.command('tunnels').description('list open tunnels: peer, direction, interface, age, bytes/s, babel routes, score (* = protected); then our traffic per destination node and the tunnel it goes through')),
    'resilnet tunnels',
    'resilnet tunnels --json',
  ).action(async (opts: TargetOptions & { json?: boolean }) => {
    const res = await client(opts).tunnels();
    if (opts.json) writeJson(io, res);
    else io.stdout.write(renderTunnels(res));
  });

  example(
    withTarget(
      program
        .command('events')
        .description('show the latest membership and link changes, one line each')
        .option('--limit <n>', `how many lines (default ${DEFAULT_EVENTS_LIMIT})`),
    ),
    'resilnet events',
    'resilnet events --limit 20 --json',
  ).action(async (opts: TargetOptions & { json?: boolean; limit?: string }) => {
    const res = await client(opts).events({ limit: toEventsLimit(opts.limit) });
    if (opts.json) writeJson(io, res);
    else io.stdout.write(renderEvents(res));
  });

  example(
    withTarget(program.command('reload').description('make the daemon re-read resilnet.toml and apply changes live; prints what it applied')),
    'resilnet reload',
    'resilnet reload --json',
  ).action(async (opts: TargetOptions & { json?: boolean }) => {
    const res = await client(opts).reload();
    if (opts.json) writeJson(io, res);
    else io.stdout.write(renderReload(res));
    if (res.failed.length) {
      throw new ResilnetError(res.failed[0]!.code, `reload: ${res.failed.length} change(s) could not be applied (see above). The daemon keeps the old values for them.`);
    }
  });

  const config = program.command('config').description('work with the node config file (resilnet.toml)');
  example(
    config
      .command('check')
      .description('validate a resilnet.toml: prints every problem with its key and the reason')
      .argument('<file>', 'the file to check')
      .option('--json', 'print the result as JSON'),
    'resilnet config check /etc/resilnet/resilnet.toml',
  ).action((file: string, opts: { json?: boolean }) => {
    const path = resolve(file);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read config ${path} (${(err as NodeJS.ErrnoException).code}). Check the path.`, { cause: err });
    }
    const result = checkNodeConfigText(text, path, { fileExists: existsSync });
    if (opts.json) writeJson(io, result);
    else io.stdout.write(renderConfigCheck(result));
    if (!result.ok) {
      throw new ConfigError(`config invalid: ${path} has ${result.problems.length} problem(s), listed above. Fix them and run the check again.`);
    }
  });
}

/**
 * Validates resilnet.toml text: TOML syntax (with line and column), the schema
 * (every problem with its dotted key), and that the identity files exist.
 */
export function checkNodeConfigText(
  text: string,
  path: string,
  options: { fileExists?: (path: string) => boolean } = {},
): ConfigCheckResult {
  let raw: unknown;
  try {
    raw = parseToml(text);
  } catch (err) {
    const where = err instanceof TomlError ? `line ${err.line}, column ${err.column}` : '(toml)';
    return { path, ok: false, problems: [{ key: where, reason: (err as Error).message.split('\n')[0] ?? 'invalid TOML' }] };
  }
  const parsed = nodeConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.flatMap((issue) => {
      const at = issue.path.map(String).join('.');
      if (issue.code === 'unrecognized_keys') {
        return issue.keys.map((k) => ({ key: at ? `${at}.${k}` : k, reason: 'unknown key (see the example config for the accepted keys)' }));
      }
      return [{ key: at || '(top level)', reason: issue.message }];
    });
    return { path, ok: false, problems };
  }
  const problems: ConfigCheckResult['problems'] = [];
  if (options.fileExists) {
    const base = dirname(path);
    for (const [key, file] of Object.entries(parsed.data.identity)) {
      const abs = isAbsolute(file) ? file : resolve(base, file);
      if (!options.fileExists(abs)) problems.push({ key: `identity.${key}`, reason: `file not found: ${abs} (run resilnet register, or fix the path)` });
    }
  }
  return { path, ok: problems.length === 0, problems };
}
