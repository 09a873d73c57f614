// The node's resilnet.toml: written by `resilnet register`, read by `resilnet
// daemon` and by the CLI (to find the control socket). Parsed once into a
// complete, frozen object; relative paths resolve against the file's folder.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import * as z from 'zod';
import { ConfigError } from './errors.js';
import { lazySchema } from './lazy-schema.js';
import { metricsListenField } from './metrics-listen.js';
import { announcedAddressProblem } from './peer-address.js';
import { prefixText } from './prefix-schema.js';

/** The fastest link hellos a node may send; the peer protocol sizes its hello replay budget by it. */
export const MIN_LINK_HELLO_INTERVAL_SEC = 0.05;

export const DEFAULT_CONFIG_PATH = '/etc/resilnet/resilnet.toml';

/** Loopback only: the endpoint has no authentication (docs/metrics.md). */
export const DEFAULT_NODE_METRICS_LISTEN = '127.0.0.1:9327';
/** A Linux interface name: at most 15 bytes (IFNAMSIZ − 1), no "/", ":" or blanks, not "." or "..". */
const INTERFACE_NAME = /^(?!\.{1,2}$)[A-Za-z0-9_.@-]{1,15}$/;
/** UDP port of LAN announcements: below the default peer port, so the two never collide by default. */
export const LAN_DEFAULT_PORT = 1193;


export const nodeConfigSchema = lazySchema(() => z.strictObject({
  identity: z
    .strictObject({
      ca: z.string().default('ca.crt').describe('CA certificate (PEM), pinned at registration'),
      cert: z.string().default('node.crt').describe('this node\'s certificate (PEM)'),
      key: z.string().default('node.key').describe('this node\'s private key (PEM, mode 0600)'),
    })
    .prefault({}),
  registry: z
    .strictObject({
      url: z.string().url().describe('registry base URL, e.g. https://registry.example:8443'),
      heartbeat_interval: z.number().min(1).max(3600).default(60).describe('seconds between heartbeats'),
    }),
  node: z
    .strictObject({
      state_dir: z.string().default('/var/lib/resilnet').describe('peer DB and cached network config'),
      run_dir: z.string().default('/run/resilnet').describe('control socket, child sockets and pid files'),
      log_level: z.enum(['trace', 'debug', 'info', 'warn', 'error']).default('info'),
    })
    .prefault({}),
  underlay: z
    .strictObject({
      port: z.number().int().min(1).max(65535 - 257).default(1194)
        .describe('UDP port of the peer protocol; incoming tunnels use the ports above it'),
      addresses: z.array(z.string().superRefine((text, ctx) => {
        const problem = announcedAddressProblem(text);
        if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `${problem}: peers could not use it ("IP", "IPv4:PORT" or "[IPv6]:PORT")` });
      })).default([])
        .describe('extra underlay addresses to announce ("IP" or "IP:PORT")'),
    })
    .prefault({}),
  babel: z
    .strictObject({
      hello_interval: z.number().min(0.1).max(60).optional()
        .describe('node-local override of the network\'s babel hello interval, seconds'),
    })
    .prefault({}),
  tunnels: z
    .strictObject({
      client_count: z.number().int().min(0).max(64).optional().describe('override: outgoing tunnels to keep'),
      max_clients: z.number().int().min(0).max(256).optional().describe('override: incoming tunnels accepted'),
      refresh: z.number().min(1).max(86400).optional().describe('override: seconds between re-planning'),
      neighbours: z.array(prefixText).default([]).describe('peers whose tunnels are never replaced'),
      // 120 = the planner's DEFAULT_TUNNEL_POLICY.minTunnelAgeMs (a test keeps the two equal).
      min_age: z.number().min(1).max(86400).default(120)
        .describe('seconds a new tunnel is kept before a refresh may replace it'),
      link_hello_interval: z.number().min(0).max(10).refine((v) => v === 0 || v >= MIN_LINK_HELLO_INTERVAL_SEC, `must be 0 (off) or at least ${MIN_LINK_HELLO_INTERVAL_SEC}`).default(0.25)
        .describe('seconds between link-liveness hellos on each tunnel; 0 turns link liveness off'),
      link_hello_misses: z.number().int().min(2).max(100).default(4)
        .describe('missed link hellos after which a tunnel counts as lost and its routes are withdrawn'),
      link_beats: z.boolean().default(true)
        .describe('on a live link, send bare beats (counted by the peer\'s tunnel interface, read by no process) instead of most signed hellos; false: signed hellos only'),
      link_idle_pace: z.number().int().min(1).max(16).default(4)
        .describe('an idle link (one not carrying our traffic) is lost after this many times link_hello_misses intervals of silence, and peers beat to it that much less often; 1: every link is judged by the short deadline'),
    })
    .prefault({}),
  // Peer retry timers (daemon/peers/retry-policy.ts); the defaults suit real networks, tests shorten them.
  peers: z
    .strictObject({
      retry_base: z.number().min(0.1).max(3600).default(10)
        .describe('seconds before the first retry of a peer that failed once; doubles with each failure'),
      dead_after_failures: z.number().int().min(1).max(100).default(3)
        .describe('failed attempts in a row (blamed on the peer) that mark it dead'),
      dead_retry_base: z.number().min(1).max(86400).default(120)
        .describe('seconds before a dead peer is retried; doubles with each failed retry (± 20 %)'),
      dead_retry_max: z.number().min(1).max(86400).default(1800)
        .describe('longest wait, in seconds, between retries of a dead peer (± 20 %)'),
    })
    .prefault({}),
  upnp: z
    .strictObject({
      enabled: z.boolean().default(true).describe('map the tunnel ports on a UPnP IGD gateway'),
      lease: z.number().int().min(60).max(86400).default(3600).describe('mapping lease, seconds'),
    })
    .prefault({}),
  // Prometheus endpoint (daemon/metrics/); read at start.
  metrics: z
    .strictObject({
      enabled: z.boolean().default(true).describe('serve Prometheus metrics on listen'),
      listen: metricsListenField(DEFAULT_NODE_METRICS_LISTEN)
        .describe('IP:PORT of the metrics endpoint ([IPv6]:PORT; "" = off); keep it on loopback or a private address'),
      top_peers: z.number().int().min(0).max(1000).default(10)
        .describe('besides the peers with a tunnel, the busiest destinations that get per-peer series'),
    })
    .prefault({}),
  // LAN discovery (daemon/lan/): signed announcements on these interfaces; none = off.
  lan: z
    .strictObject({
      interfaces: z.array(z.string().regex(INTERFACE_NAME, 'must be a network interface name (1-15 letters, digits, "-", "_", "." or "@"), e.g. "eth1"'))
        .refine((names) => new Set(names).size === names.length, 'lists an interface twice')
        .default([])
        .describe('interfaces whose LAN neighbours are found by signed multicast announcements'),
      interval: z.number().min(1).max(3600).default(30)
        .describe('seconds between announcements on each interface (± 20 % jitter)'),
      port: z.number().int().min(1).max(65535).default(LAN_DEFAULT_PORT)
        .describe('UDP port of the announcements (to the IPv6 link-local group ff02::114)'),
    })
    .prefault({}),
  // NAT class probes (daemon/nat/): empty = the class comes from the registry's view and UPnP only.
  nat: z
    .strictObject({
      stun: z
        .array(z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[^:[\]\s]+)(:\d{1,5})?$/, 'must be host:port or [IPv6]:port'))
        .max(8)
        .default([])
        .describe('STUN servers asked for our external address and NAT mapping ("host:port"); two servers, or one with a second address (RFC 3489 CHANGED-ADDRESS), tell the NAT kinds apart'),
      check_interval: z.number().int().min(30).max(86400).default(600).describe('seconds between NAT class checks'),
    })
    .prefault({}),
  control: z
    .strictObject({
      socket: z.string().optional().describe('control socket path (default RUN_DIR/control.sock)'),
    })
    .prefault({}),
}));

type RawNodeConfig = z.infer<typeof nodeConfigSchema>;

export interface NodeConfig extends Omit<RawNodeConfig, 'control'> {
  /** Absolute path of the file this came from. */
  readonly path: string;
  readonly control: { readonly socket: string };
}

/** Parses resilnet.toml text; every problem is reported with its key. */
export function parseNodeConfig(text: string, path: string): NodeConfig {
  let raw: unknown;
  try {
    raw = parseToml(text);
  } catch (err) {
    const where = err instanceof TomlError ? `:${err.line}:${err.column}` : '';
    throw new ConfigError(`config invalid at ${path}${where}: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
  const result = nodeConfigSchema.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`);
    throw new ConfigError(`config invalid at ${path}: ${problems.join('; ')}`, { details: { problems } });
  }
  const base = dirname(resolve(path));
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  const c = result.data;
  const config: NodeConfig = {
    ...c,
    path: resolve(path),
    identity: { ca: abs(c.identity.ca), cert: abs(c.identity.cert), key: abs(c.identity.key) },
    node: { ...c.node, state_dir: abs(c.node.state_dir), run_dir: abs(c.node.run_dir) },
    control: { socket: abs(c.control.socket ?? `${c.node.run_dir}/control.sock`) },
  };
  return deepFreeze(config);
}

export function loadNodeConfig(path: string): NodeConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config ${resolve(path)} (${(err as NodeJS.ErrnoException).code}). Run \`resilnet register\` first, or pass --config.`, { cause: err });
  }
  return parseNodeConfig(text, path);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
