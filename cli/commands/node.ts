// Placeholder: replaced by the module that implements these commands.
import type { Command } from 'commander';
import type { CliIo } from '../io.js';

export function registerNodeCommands(_program: Command, _io: CliIo): void {}
