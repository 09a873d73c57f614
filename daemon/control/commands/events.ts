import { CONTROL_ROUTES, parseEventsRequest, type EventsRequest, type EventsResponse } from '../protocol.js';
import type { CommandHandler } from './handler.js';

export const eventsCommand: CommandHandler<EventsRequest, EventsResponse> = {
  help: {
    name: 'events',
    ...CONTROL_ROUTES.events,
    description: 'the latest membership and link changes, one human-readable line each, oldest first',
    params: { limit: 'how many lines (default 100)' },
  },
  parse: ({ query }) => {
    const r = parseEventsRequest(query);
    return 'error' in r ? { ok: false, message: r.error } : { ok: true, request: r };
  },
  run: (req, backend) => backend.events(req),
};
