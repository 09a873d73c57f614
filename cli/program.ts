// The top of the command tree and the error handling every entry point shares:
// errors become one readable line (no stack trace unless --debug).
import { Command, CommanderError } from 'commander';
import { ResilnetError } from '../config/errors.js';
import type { CliIo } from './io.js';

export function newProgram(io: CliIo): Command {
  return new Command('resilnet')
    .description('resilnet: a self-healing IPv6 overlay network (registry, node daemon, lab)')
    .option('--debug', 'print stack traces of errors')
    .showHelpAfterError('(run `resilnet help` or add --help for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    });
}

export async function runProgram(program: Command, argv: string[], io: CliIo): Promise<number> {
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    const debug = argv.includes('--debug');
    if (err instanceof ResilnetError) {
      io.stderr.write(`error: ${err.message}${err.hint ? `\n${err.hint}` : ''} (${err.code})\n`);
    } else {
      io.stderr.write(`error: ${(err as Error)?.message ?? String(err)}\n`);
    }
    if (debug && err instanceof Error && err.stack) io.stderr.write(`${err.stack}\n`);
    return 1;
  }
}
