// `resilnet registry …`: create and serve a network, and manage it through the
// running registry's admin socket. Each command: flags → request → call → render.
import type { Command } from 'commander';
import { ResilnetError } from '../../config/errors.js';
import { AdminClient } from '../../registry/admin-client.js';
import type { ConfigView, NodeView, RevokeResult, TokenAddResponse, TokenView } from '../../registry/admin-protocol.js';
import { initRegistry, type InitResult } from '../../registry/init.js';
import { serveUntilSignal } from '../../registry/main.js';
import { registryPath } from '../../registry/registry-config.js';
import { formatBytes, formatRtt } from '../../registry/status-page/format.js';
import { parseDuration } from '../../registry/tokens.js';
import { writeJson, type CliIo } from '../io.js';

/** Where the unit files keep the registry; every registry command defaults --dir to it. */
export const DEFAULT_REGISTRY_DIR = '/var/lib/resilnet-registry';

const collect = (value: string, previous: string[] = []) => [...previous, value];

function positiveInt(flag: string) {
  return (text: string): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < 0) throw new ResilnetError('RN_CLI_USAGE', `${flag} must be a whole number (got "${text}")`);
    return n;
  };
}

function admin(dir: string): AdminClient {
  return new AdminClient(registryPath(dir, 'adminSocket'));
}

// ---- pure renderers (tested) ----------------------------------------------------

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

export function renderInit(r: InitResult): string {
  return [
    `created network ${r.network_prefix} in ${r.dir}`,
    `  node prefixes: /${r.node_prefix_length} (${r.capacity} available)`,
    `  CA fingerprint: ${r.ca_fingerprint}`,
    ...r.notes.map((n) => `  ${n}`),
    '',
    'Next steps:',
    `  resilnet registry serve --dir ${r.dir}`,
    `  resilnet registry token add --dir ${r.dir}`,
    `  (on each host) resilnet register --registry https://HOST:PORT --token TOKEN --fingerprint ${r.ca_fingerprint}`,
    '',
  ].join('\n');
}

export function renderTokens(tokens: TokenView[]): string {
  if (tokens.length === 0) return 'no tokens. Add one with: resilnet registry token add --dir DIR\n';
  return table(
    ['ID', 'STATE', 'USES LEFT', 'EXPIRES', 'EMAIL'],
    tokens.map((t) => [t.id, t.state, `${t.uses_left}/${t.uses_total}`, t.expires_at ?? 'never', t.email ?? '-']),
  );
}

/** One line per reported tunnel: direction (→ this node opened it), peer, RTT, bytes received and sent. */
function tunnelLines(n: NodeView): string[] {
  return n.tunnel_list.map((t) =>
    `    ${t.role === 'client' ? '→' : '←'} ${t.peer}  ${t.role}  rtt ${formatRtt(t.rtt_ms)}  rx ${formatBytes(t.rx_bytes)}  tx ${formatBytes(t.tx_bytes)}`);
}

export function renderNodes(nodes: NodeView[], opts: { verbose?: boolean } = {}): string {
  if (nodes.length === 0) return 'no nodes registered yet\n';
  const text = table(
    ['PREFIX', 'STATE', 'LAST SEEN', 'SEEN FROM', 'NAT', 'TUNNELS', 'CERT EXPIRES', 'EMAIL'],
    nodes.map((n) => [n.prefix, n.state, n.last_seen ?? '-', n.seen_address ?? '-', n.nat_class ?? '-', String(n.tunnels), n.expires_at, n.email ?? '-']),
  );
  if (!opts.verbose) return text;
  const [header, ...rows] = text.trimEnd().split('\n');
  return `${[header, ...rows.flatMap((row, i) => [row, ...tunnelLines(nodes[i]!)])].join('\n')}\n`;
}

export function renderConfig(view: ConfigView): string {
  const c = view.config;
  const lines = [
    `network config version ${view.version} (issued ${c.issued_at})`,
    `  network_prefix        ${c.network_prefix} (node prefixes /${c.node_prefix_length})`,
    `  babel.hello_interval  ${c.babel.hello_interval}`,
    `  client_count          ${c.client_count}`,
    `  max_clients           ${c.max_clients}`,
    `  tunnel_refresh        ${c.tunnel_refresh}`,
    `  cipher                ${c.cipher}`,
    `  min_protocol          ${c.min_protocol}`,
    `  registry_urls         ${c.registry_urls.join(', ') || '-'}`,
    `  revoked_serials       ${c.revoked_serials.join(', ') || '-'}`,
  ];
  const overrides = Object.entries(view.overrides);
  if (overrides.length) lines.push(`  set by admin: ${overrides.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ')}`);
  return `${lines.join('\n')}\n`;
}

export function renderRevoke(r: RevokeResult): string {
  if (r.revoked_serials.length === 0) return `nothing new to revoke${r.prefix ? ` for ${r.prefix}` : ''} (already revoked); network config version ${r.network_config_version}\n`;
  return `revoked ${r.prefix ?? ''} serial(s) ${r.revoked_serials.join(', ')}; published in the CRL and network config version ${r.network_config_version}\n`;
}

// ---- commands --------------------------------------------------------------------

export function registerRegistryCommands(program: Command, io: CliIo): void {
  const registry = program
    .command('registry')
    .description('create and run a network\'s registry (CA, enrolment, bootstrap) and manage it')
    .addHelpText('after', '\nExamples:\n  $ resilnet registry init --dir /var/lib/resilnet-registry --prefix fd5e:1234:5678::/48\n  $ resilnet registry serve --dir /var/lib/resilnet-registry\n  $ resilnet registry token add --dir /var/lib/resilnet-registry --email ops@example.org\n');

  registry
    .command('init')
    .description('create a new network in DIR: CA (ECDSA P-256), SQLite store and registry.toml; refuses to overwrite')
    .option('--dir <dir>', 'registry folder to create (holds the CA key: keep it private)', DEFAULT_REGISTRY_DIR)
    .requiredOption('--prefix <prefix>', 'overlay IPv6 prefix of the whole network, e.g. fd5e:1234:5678::/48')
    .option('--node-prefix-length <n>', 'length of each node\'s prefix', positiveInt('--node-prefix-length'), 64)
    .option('--cert-days <n>', 'lifetime of node certificates, days', positiveInt('--cert-days'), 365)
    .option('--renew-window-days <n>', 'nodes may renew this many days before expiry (default 30)', positiveInt('--renew-window-days'))
    .option('--grace-days <n>', 'renewal still allowed this long after expiry; then the prefix is freed (default 7)', positiveInt('--grace-days'))
    .option('--listen <host:port>', 'default listen address for `serve` (default [::]:8443)')
    .option('--url <url>', 'URL nodes reach the registry at (repeatable; default derived from the listen address)', collect)
    .option('--set <key=value>', 'initial network-config setting, e.g. babel.hello_interval=1 (repeatable)', collect)
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExamples:\n  $ resilnet registry init --dir /var/lib/resilnet-registry --prefix fd5e:1234:5678::/48\n  $ resilnet registry init --dir ./reg --prefix fd00:1::/48 --listen 10.0.0.1:8443 --set babel.hello_interval=1\n')
    .action(async (o: { dir: string; prefix: string; nodePrefixLength: number; certDays: number; renewWindowDays?: number; graceDays?: number; listen?: string; url?: string[]; set?: string[]; json?: boolean }) => {
      const result = await initRegistry({
        dir: o.dir, prefix: o.prefix, nodePrefixLength: o.nodePrefixLength, certDays: o.certDays,
        renewWindowDays: o.renewWindowDays, graceDays: o.graceDays, listen: o.listen, urls: o.url, settings: o.set, nowMs: Date.now(),
      });
      if (o.json) writeJson(io, result);
      else io.stdout.write(renderInit(result));
    });

  registry
    .command('serve')
    .description('serve the HTTPS API and the admin socket DIR/admin.sock until SIGINT/SIGTERM (logs JSON to stdout)')
    .option('--dir <dir>', 'registry folder made by `registry init`', DEFAULT_REGISTRY_DIR)
    .option('--listen <host:port>', 'listen address (default from registry.toml, normally [::]:8443; port 0 = any free port)')
    .option('--url <url>', 'URL nodes reach the registry at (repeatable; default derived from the listen address)', collect)
    .option('--metrics-listen <ip:port>', 'serve metrics here instead of registry.toml [metrics] listen ("" = off; port 0 = any free port)')
    .option('--ready-file <path>', 'write {"url","port","admin_socket","metrics_listen"} JSON here once serving (for scripts and the lab)')
    .addHelpText('after', '\nExamples:\n  $ resilnet registry serve --dir /var/lib/resilnet-registry\n  $ resilnet registry serve --dir ./reg --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 --ready-file ./reg/ready.json\n')
    .action(async (o: { dir: string; listen?: string; url?: string[]; metricsListen?: string; readyFile?: string }) => {
      const { writeFileSync } = await import('node:fs');
      await serveUntilSignal({ dir: o.dir, listen: o.listen, urls: o.url, metricsListen: o.metricsListen }, (r) => {
        if (o.readyFile) {
          writeFileSync(o.readyFile, `${JSON.stringify({ url: r.urls[0], urls: r.urls, port: r.port, admin_socket: r.adminSocket, metrics_listen: r.metricsListen })}\n`);
        }
      });
    });

  const token = registry.command('token').description('enrolment tokens: add, list, revoke (needs the running registry)');
  token
    .command('add')
    .description('create an enrolment token and print it (stdout holds only the token unless --json)')
    .option('--dir <dir>', 'registry folder', DEFAULT_REGISTRY_DIR)
    .option('--uses <n>', 'how many enrolments the token allows', positiveInt('--uses'), 1)
    .option('--expires <duration>', 'lifetime such as 30m, 12h, 7d (default: never)')
    .option('--email <email>', 'who the token is for (recorded on the nodes it enrols)')
    .option('--json', 'print the token and its details as JSON')
    .addHelpText('after', '\nExamples:\n  $ resilnet registry token add --dir /var/lib/resilnet-registry --expires 7d --email alice@example.org\n  $ TOKEN=$(resilnet registry token add --dir ./reg --uses 3)\n')
    .action(async (o: { dir: string; uses: number; expires?: string; email?: string; json?: boolean }) => {
      if (o.expires !== undefined) parseDuration(o.expires); // fail before contacting the registry
      const r: TokenAddResponse = await admin(o.dir).addToken({ uses: o.uses, ...(o.expires ? { expires: o.expires } : {}), ...(o.email ? { email: o.email } : {}) });
      if (o.json) writeJson(io, r);
      else {
        io.stdout.write(`${r.token}\n`);
        io.stderr.write(`token ${r.id}: ${r.uses_total} use(s), expires ${r.expires_at ?? 'never'}\n`);
      }
    });
  token
    .command('list')
    .description('list tokens with their state and remaining uses (secrets are never shown)')
    .option('--dir <dir>', 'registry folder', DEFAULT_REGISTRY_DIR)
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  $ resilnet registry token list --dir /var/lib/resilnet-registry --json\n')
    .action(async (o: { dir: string; json?: boolean }) => {
      const r = await admin(o.dir).listTokens();
      if (o.json) writeJson(io, r);
      else io.stdout.write(renderTokens(r.tokens));
    });
  token
    .command('revoke')
    .description('revoke a token (give the token or its ID) so it can no longer enrol')
    .argument('<token>', 'the token text or its 8-hex-digit ID')
    .option('--dir <dir>', 'registry folder', DEFAULT_REGISTRY_DIR)
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  $ resilnet registry token revoke --dir /var/lib/resilnet-registry 3f9a1c2b\n')
    .action(async (t: string, o: { dir: string; json?: boolean }) => {
      const r = await admin(o.dir).revokeToken(t);
      if (o.json) writeJson(io, r);
      else io.stdout.write(`token ${r.id} revoked\n`);
    });

  registry
    .command('revoke')
    .description('revoke a node by prefix (all its certificates) or one certificate by serial; publishes a new CRL and network config')
    .argument('<prefix-or-serial>', 'node prefix (e.g. fd5e:1:2:7::/64) or certificate serial in hex')
    .option('--dir <dir>', 'registry folder', DEFAULT_REGISTRY_DIR)
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExamples:\n  $ resilnet registry revoke --dir /var/lib/resilnet-registry fd5e:1234:5678:7::/64\n  $ resilnet registry revoke --dir /var/lib/resilnet-registry 1a\n')
    .action(async (target: string, o: { dir: string; json?: boolean }) => {
      const r = await admin(o.dir).revoke(target);
      if (o.json) writeJson(io, r);
      else io.stdout.write(renderRevoke(r));
    });

  registry
    .command('nodes')
    .description('list registered nodes: state, last heartbeat, address seen, NAT class, tunnels, certificate expiry (as of their last heartbeat)')
    .option('--dir <dir>', 'registry folder', DEFAULT_REGISTRY_DIR)
    .option('-v, --verbose', 'also list each node\'s tunnels: peer, role, RTT, bytes received and sent')
    .option('--json', 'print JSON (per node also nat_class and tunnel_list)')
    .addHelpText('after', '\nExamples:\n  $ resilnet registry nodes --dir /var/lib/resilnet-registry\n  $ resilnet registry nodes --verbose\n\nThe same, with a picture of the tunnels, on the registry host: https://localhost:PORT/\n')
    .action(async (o: { dir: string; json?: boolean; verbose?: boolean }) => {
      const r = await admin(o.dir).nodes();
      if (o.json) writeJson(io, r);
      else io.stdout.write(renderNodes(r.nodes, { verbose: o.verbose ?? false }));
    });

  registry
    .command('status')
    .description('show the running registry: network, CA fingerprint, URLs, network-config version')
    .option('--dir <dir>', 'registry folder', DEFAULT_REGISTRY_DIR)
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  $ resilnet registry status --dir /var/lib/resilnet-registry\n')
    .action(async (o: { dir: string; json?: boolean }) => {
      const r = await admin(o.dir).status();
      if (o.json) writeJson(io, r);
      else io.stdout.write(`network ${r.network_prefix} (node prefixes /${r.node_prefix_length})\nCA fingerprint ${r.ca_fingerprint}\nlistening on ${r.listen}; URLs ${r.urls.join(', ')}\nnetwork config version ${r.network_config_version}\n`);
    });

  const config = registry.command('config').description('show or change the signed network config (every change publishes a new version)');
  config
    .command('set')
    .description('change network-config settings; keys: babel.hello_interval, client_count, max_clients, tunnel_refresh, cipher, min_protocol, registry_urls')
    .argument('<key=value...>', 'settings, e.g. babel.hello_interval=1 client_count=3')
    .option('--dir <dir>', 'registry folder', DEFAULT_REGISTRY_DIR)
    .option('--json', 'print the new config as JSON')
    .addHelpText('after', '\nExamples:\n  $ resilnet registry config set --dir /var/lib/resilnet-registry babel.hello_interval=1\n  $ resilnet registry config set --dir ./reg registry_urls=https://10.0.0.1:8443,https://10.0.0.2:8443\n')
    .action(async (pairs: string[], o: { dir: string; json?: boolean }) => {
      const r = await admin(o.dir).setConfig(pairs);
      if (o.json) writeJson(io, r);
      else io.stdout.write(renderConfig(r));
    });
  config
    .command('show')
    .description('print the current network config and its version')
    .option('--dir <dir>', 'registry folder', DEFAULT_REGISTRY_DIR)
    .option('--json', 'print JSON ({version, config, overrides})')
    .addHelpText('after', '\nExample:\n  $ resilnet registry config show --dir /var/lib/resilnet-registry --json\n')
    .action(async (o: { dir: string; json?: boolean }) => {
      const r = await admin(o.dir).config();
      if (o.json) writeJson(io, r);
      else io.stdout.write(renderConfig(r));
    });
}
