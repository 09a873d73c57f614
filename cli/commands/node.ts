// Read and control commands of a running node: status, peers, tunnels, events
// (events.ts), reload, and `config check FILE`. Each goes flags → request →
// control API call → render (or `--json`, which prints the API's response
// unchanged). status and peers read the peer DB when the daemon does not answer.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { Command } from 'commander';
import { parse as parseToml, TomlError } from 'smol-toml';
import { ConfigError, ResilnetError } from '../../config/errors.js';
import { nodeConfigSchema } from '../../config/node-config.js';
import { ControlClient } from '../../daemon/control/client.js';
import type { PeersRequest } from '../../daemon/control/protocol.js';
import { writeJson, type CliIo } from '../io.js';
import { registerEventsCommand } from './events.js';
import { daemonOrFiles, example, resolveControlSocket, withTarget, type TargetOptions } from './target.js';
import { fallbackNotice, offlinePeers, offlineStatus, peerDbPath, readPeerDbSnapshot, renderOfflineStatus } from './peer-db-view.js';
import {
  renderConfigCheck,
  renderPeers,
  renderReload,
  renderStatus,
  renderTunnels,
  type ConfigCheckResult,
} from './node-render.js';

export { toEventsLimit } from './events.js';
export { configPath, CONFIG_ENV, DEFAULT_CONTROL_SOCKET, resolveControlSocket } from './target.js';

export function toPeersRequest(opts: { dead?: boolean }): PeersRequest {
  return { dead: opts.dead === true };
}

export function registerNodeCommands(program: Command, io: CliIo): void {
  const client = (opts: TargetOptions) => new ControlClient({ socketPath: resolveControlSocket(opts) });

  example(
    withTarget(program.command('status').description('show this node: identity, network config in effect, peers, tunnels, babeld, registry, health')),
    'resilnet status',
    'resilnet status --json',
  ).action(async (opts: TargetOptions & { json?: boolean }) => {
    const res = await daemonOrFiles(opts, () => client(opts).status(), (config, reason) => {
      const snapshot = readPeerDbSnapshot(peerDbPath(config));
      io.stderr.write(fallbackNotice(reason, 'peer DB', snapshot.asOfMs, Date.now()));
      return offlineStatus(snapshot, config, `not answering (${reason})`);
    });
    if (opts.json) writeJson(io, 'daemon' in res ? res.daemon : res.offline);
    else io.stdout.write('daemon' in res ? renderStatus(res.daemon, Date.now()) : renderOfflineStatus(res.offline, Date.now()));
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
    const res = await daemonOrFiles(opts, () => client(opts).peers(req), (config, reason) => {
      const snapshot = readPeerDbSnapshot(peerDbPath(config));
      io.stderr.write(fallbackNotice(reason, 'peer DB', snapshot.asOfMs, Date.now()));
      return offlinePeers(snapshot, req);
    });
    const shown = 'daemon' in res ? res.daemon : res.offline;
    if (opts.json) writeJson(io, shown);
    else io.stdout.write(renderPeers(shown, req, Date.now()));
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

  registerEventsCommand(program, io, client);

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
