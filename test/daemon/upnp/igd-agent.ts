// Runs the real UPnP adapter (and the mapping service) inside a network namespace
// for the test process, which cannot enter one itself:
//   ip netns exec NS node --import tsx test/daemon/upnp/igd-agent.ts [discoveryTimeoutMs]
// One JSON request per stdin line, one JSON reply per stdout line:
//   → {"id":1,"op":"map","args":[4000,"UDP",600]}
//   ← {"id":1,"ok":true,"value":{…}}  |  {"id":1,"ok":false,"error":{"code":"RN_UPNP_…","message":"…",…}}
// plus events without an id: {"event":"ready"}, {"event":"external-address","value":…}.
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';
import { HealthRegistry } from '../../../daemon/health/health.js';
import { UpnpMappings, type UpnpMappingsOptions } from '../../../daemon/upnp/mapper.js';
import { UpnpIgd } from '../../../daemon/upnp/upnp-igd.js';
import { systemClock } from '../../../daemon/sys/clock.js';

type Op = 'discover' | 'externalIp' | 'map' | 'unmap' | 'cancel' | 'mappingsStart' | 'mappingsStop' | 'mappingsStatus' | 'health';

interface Request {
  id: number;
  op: Op;
  args?: unknown[];
}

const write = (obj: unknown): void => {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
};
const logTo =
  (level: string) =>
  (...args: unknown[]): void => {
    process.stderr.write(`${JSON.stringify({ level, fields: args[0], msg: args[1] }, (_k, v: unknown) => (v instanceof Error ? { message: v.message, code: (v as { code?: unknown }).code } : v))}\n`);
  };
const log = { debug: logTo('debug'), info: logTo('info'), warn: logTo('warn'), error: logTo('error') } as unknown as Logger;

const discoveryTimeoutMs = Number(process.argv[2] ?? 2000);
const mapper = new UpnpIgd({ clock: systemClock, log }, { discoveryTimeoutMs, description: 'resilnet' });
const health = new HealthRegistry({ clock: systemClock, log });
let mappings: UpnpMappings | undefined;
const inflight = new Map<number, AbortController>();

function serialiseError(err: unknown): Record<string, unknown> {
  if (err instanceof Error) {
    const e = err as Error & { code?: unknown; details?: unknown; hint?: unknown };
    return { name: e.name, message: e.message, code: e.code, details: e.details };
  }
  return { name: 'unknown', message: String(err) };
}

async function handle(req: Request): Promise<unknown> {
  const controller = new AbortController();
  inflight.set(req.id, controller);
  const signal = controller.signal;
  const args = req.args ?? [];
  try {
    switch (req.op) {
      case 'discover':
        return await mapper.discover({ signal });
      case 'externalIp':
        return await mapper.externalIp({ signal });
      case 'map':
        return await mapper.map(args[0] as number, args[1] as 'UDP', args[2] as number, { signal });
      case 'unmap':
        await mapper.unmap(args[0] as number, args[1] as 'UDP', { signal });
        return null;
      case 'cancel':
        inflight.get(args[0] as number)?.abort(new Error('cancelled by the test'));
        return null;
      case 'mappingsStart':
        mappings = new UpnpMappings({
          mapper,
          clock: systemClock,
          health,
          log,
          onExternalAddress: (value) => write({ event: 'external-address', value: value ?? null }),
        });
        await mappings.start(args[0] as UpnpMappingsOptions);
        return mappings.status();
      case 'mappingsStatus':
        return mappings?.status() ?? null;
      case 'mappingsStop':
        await mappings?.stop();
        return null;
      case 'health':
        return health.list();
      default:
        throw new Error(`unknown op ${String(req.op)}`);
    }
  } finally {
    inflight.delete(req.id);
  }
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  let req: Request;
  try {
    req = JSON.parse(line) as Request;
  } catch {
    write({ event: 'bad-request', line });
    return;
  }
  handle(req).then(
    (value) => write({ id: req.id, ok: true, value: value ?? null }),
    (err: unknown) => write({ id: req.id, ok: false, error: serialiseError(err) }),
  );
});
lines.on('close', () => {
  // stdin closed: the test is done with us; leave no mapping behind.
  void (mappings?.stop() ?? Promise.resolve()).finally(() => process.exit(0));
});
write({ event: 'ready' });
