import { CONTROL_ROUTES, type TunnelsResponse } from '../protocol.js';
import { noQuery, type CommandHandler } from './handler.js';

export const tunnelsCommand: CommandHandler<Record<string, never>, TunnelsResponse> = {
  help: {
    name: 'tunnels',
    ...CONTROL_ROUTES.tunnels,
    description: 'open tunnels: peer, direction, interface, age, bytes/s, babel routes, score; and our traffic per destination (when measured)',
    params: {},
  },
  parse: ({ query }) => noQuery(query),
  run: (_req, backend) => backend.tunnels(),
};
