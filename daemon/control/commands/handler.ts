// The shape of one control command. Handlers only parse and delegate: the
// daemon behind `ControlBackend` owns the state.
import type {
  EventsRequest,
  EventsResponse,
  HelpEntry,
  PeersRequest,
  PeersResponse,
  ReloadReport,
  StatusResponse,
  TunnelsResponse,
} from '../protocol.js';

/** What the daemon offers the control API (node.ts implements it). */
export interface ControlBackend {
  status(): StatusResponse;
  peers(req: PeersRequest): PeersResponse;
  tunnels(): TunnelsResponse;
  events(req: EventsRequest): EventsResponse;
  reload(options: { signal: AbortSignal }): Promise<ReloadReport>;
}

export interface CommandInput {
  query: URLSearchParams;
  /** Parsed JSON body (POST), or undefined when the body was empty. */
  body: unknown;
}

export type ParseResult<Req> = { ok: true; request: Req } | { ok: false; message: string };

export interface CommandHandler<Req = unknown, Res = unknown> {
  help: HelpEntry;
  parse(input: CommandInput): ParseResult<Req>;
  run(request: Req, backend: ControlBackend, options: { signal: AbortSignal }): Res | Promise<Res>;
}

/** Refuses a body with any field (for commands that take none). */
export function emptyBody(body: unknown): ParseResult<Record<string, never>> {
  if (body === undefined) return { ok: true, request: {} };
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { ok: false, message: 'body must be a JSON object' };
  }
  const keys = Object.keys(body);
  if (keys.length) return { ok: false, message: `unknown field "${keys[0]}" (this command takes none)` };
  return { ok: true, request: {} };
}

export function noQuery(query: URLSearchParams): ParseResult<Record<string, never>> {
  for (const k of query.keys()) return { ok: false, message: `unknown parameter "${k}" (this command takes none)` };
  return { ok: true, request: {} };
}

/** A command's `parse` from a protocol.ts query parser (which returns the request or `{ error }`). */
export function fromQueryParser<Req extends object>(parse: (query: URLSearchParams) => Req | { error: string }): (input: CommandInput) => ParseResult<Req> {
  return ({ query }) => {
    const r = parse(query);
    return 'error' in r ? { ok: false, message: r.error } : { ok: true, request: r };
  };
}
