import { CONTROL_ROUTES, parsePeersRequest, type PeersRequest, type PeersResponse } from '../protocol.js';
import { fromQueryParser, type CommandHandler } from './handler.js';

export const peersCommand: CommandHandler<PeersRequest, PeersResponse> = {
  help: {
    name: 'peers',
    ...CONTROL_ROUTES.peers,
    description: 'the peer DB: addresses, source, last seen, failures, dead flag with reason, since and next retry',
    params: { dead: '1 to list only dead peers' },
  },
  parse: fromQueryParser(parsePeersRequest),
  run: (req, backend) => backend.peers(req),
};
