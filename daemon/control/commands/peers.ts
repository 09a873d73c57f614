import { CONTROL_ROUTES, parsePeersRequest, type PeersRequest, type PeersResponse } from '../protocol.js';
import type { CommandHandler } from './handler.js';

export const peersCommand: CommandHandler<PeersRequest, PeersResponse> = {
  help: {
    name: 'peers',
    ...CONTROL_ROUTES.peers,
    description: 'the peer DB: addresses, source, last seen, failures, dead flag with reason, since and next retry',
    params: { dead: '1 to list only dead peers' },
  },
  parse: ({ query }) => {
    const r = parsePeersRequest(query);
    return 'error' in r ? { ok: false, message: r.error } : { ok: true, request: r };
  },
  run: (req, backend) => backend.peers(req),
};
