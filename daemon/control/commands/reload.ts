import { CONTROL_ROUTES, type ReloadResponse } from '../protocol.js';
import { emptyBody, noQuery, type CommandHandler } from './handler.js';

export const reloadCommand: CommandHandler<Record<string, never>, ReloadResponse> = {
  help: {
    name: 'reload',
    ...CONTROL_ROUTES.reload,
    description: 're-read resilnet.toml and apply what changed without dropping unaffected tunnels; returns what was applied',
    params: {},
  },
  parse: ({ query, body }) => {
    const q = noQuery(query);
    return q.ok ? emptyBody(body) : q;
  },
  run: (_req, backend, { signal }) => backend.reload({ signal }),
};
