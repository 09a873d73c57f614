// The `resilnet` command: builds the commander tree from one module per area and
// turns errors into one readable line (no stack trace unless --debug).
import type { Command } from 'commander';
import type { CliIo } from './io.js';
import { endQuietlyOnClosedPipe } from './closed-pipe.js';
import { newProgram, runProgram } from './program.js';
import { registerRegistryCommands } from './commands/registry.js';
import { registerRegisterCommand } from './commands/register.js';
import { registerDaemonCommand } from './commands/daemon.js';
import { registerNodeCommands } from './commands/node.js';
import { registerLabCommands } from './commands/lab.js';
import { registerNetcheckCommand } from './commands/netcheck.js';

export function buildProgram(io: CliIo): Command {
  const program = newProgram(io);
  registerRegistryCommands(program, io);
  registerRegisterCommand(program, io);
  registerDaemonCommand(program, io);
  registerNodeCommands(program, io);
  registerNetcheckCommand(program, io);
  registerLabCommands(program, io);
  return program;
}

export async function main(argv: string[], io: CliIo): Promise<number> {
  endQuietlyOnClosedPipe([io.stdout, io.stderr]);
  return runProgram(buildProgram(io), argv, io);
}
