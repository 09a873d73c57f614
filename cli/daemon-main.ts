// `resilnet daemon` without the rest of the command tree: bin/resilnet takes
// this entry for the daemon, so a daemon loads only its own modules (a lab
// starts many daemons at once on a few cores; every module loaded is start-up
// time). Same options, output and exit codes as through cli/main.ts.
import type { CliIo } from './io.js';
import { registerDaemonCommand } from './commands/daemon.js';
import { newProgram, runProgram } from './program.js';

export async function main(argv: string[], io: CliIo): Promise<number> {
  const program = newProgram(io);
  registerDaemonCommand(program, io);
  return runProgram(program, argv, io);
}
