// `resilnet daemon`: the node daemon in the foreground (what resilnet.service runs).
import { Option, type Command } from 'commander';
import { DEFAULT_CONFIG_PATH } from '../../config/node-config.js';
import { runDaemon, type LogLevel } from '../../daemon/main.js';
import type { CliIo } from '../io.js';

export function registerDaemonCommand(program: Command, io: CliIo): void {
  program
    .command('daemon')
    .description('run the node daemon in the foreground: tunnels, babeld, peer protocol, control socket (logs to stdout: JSON, human lines on a terminal, syslog-prefixed lines under journald; RESILNET_LOG_FORMAT=json|pretty|journal overrides)')
    .option('--config <path>', 'node config written by `resilnet register`', DEFAULT_CONFIG_PATH)
    .addOption(
      new Option('--log-level <level>', 'override node.log_level (trace also logs every peer-protocol message)').choices([
        'trace',
        'debug',
        'info',
        'warn',
        'error',
      ]),
    )
    .addHelpText('after', '\nExamples:\n  $ resilnet daemon --config /etc/resilnet/resilnet.toml\n  $ resilnet daemon --config ./node/resilnet.toml --log-level trace\n')
    .action(async (opts: { config: string; logLevel?: LogLevel }) => {
      const code = await runDaemon({ configPath: opts.config, ...(opts.logLevel ? { logLevel: opts.logLevel } : {}) }, io);
      if (code !== 0) process.exitCode = code;
    });
}
