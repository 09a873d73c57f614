// Every control command, in the order `help` lists them.
import type { CommandHandler } from './handler.js';
import { eventsCommand } from './events.js';
import { peersCommand } from './peers.js';
import { reloadCommand } from './reload.js';
import { statusCommand } from './status.js';
import { tunnelsCommand } from './tunnels.js';

export const CONTROL_COMMANDS: ReadonlyArray<CommandHandler<any, any>> = [
  statusCommand,
  peersCommand,
  tunnelsCommand,
  eventsCommand,
  reloadCommand,
];
