import { CONTROL_ROUTES, type StatusResponse } from '../protocol.js';
import { noQuery, type CommandHandler } from './handler.js';

export const statusCommand: CommandHandler<Record<string, never>, StatusResponse> = {
  help: {
    name: 'status',
    ...CONTROL_ROUTES.status,
    description: 'identity, network config in effect, counts of peers and tunnels, babeld, registry, health',
    params: {},
  },
  parse: ({ query }) => noQuery(query),
  run: (_req, backend) => backend.status(),
};
