import { CONTROL_ROUTES, parseEventsRequest, type EventsRequest, type EventsResponse } from '../protocol.js';
import { fromQueryParser, type CommandHandler } from './handler.js';

export const eventsCommand: CommandHandler<EventsRequest, EventsResponse> = {
  help: {
    name: 'events',
    ...CONTROL_ROUTES.events,
    description: 'the latest membership and link changes, one human-readable line each, oldest first',
    params: { limit: 'how many lines (default 100)' },
  },
  parse: fromQueryParser(parseEventsRequest),
  run: (req, backend) => backend.events(req),
};
