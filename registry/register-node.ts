// `resilnet register`, the host side of enrolment: pin the CA (checking the
// fingerprint when given), keep or make the node key, enrol with a token and
// write DIR/{ca.crt,node.crt,node.key,network-config.json,resilnet.toml}.
import { createPublicKey } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stringify as stringifyToml } from 'smol-toml';
import { ResilnetError } from '../config/errors.js';
import { nodeAddress, parsePrefix } from '../config/ipv6.js';
import { parseNodeConfig } from '../config/node-config.js';
import { peerAddressProblem } from '../config/peer-address.js';
import { createCsrPem, generateKeyPem } from '../pki/keys.js';
import { caFingerprint, normalizeFingerprint, verifyCertificate } from '../pki/identity.js';
import { verifyNetworkConfig } from '../pki/network-config.js';
import { RegistryClient } from '../wire/registry-client.js';
import { parseEndpoint } from '../wire/registry-api.js';
import { ensurePrivateFile, modeText } from './private-files.js';

export interface RegisterOptions {
  registryUrl: string;
  token: string;
  dir: string;
  fingerprint?: string | undefined;
  force?: boolean | undefined;
  stateDir?: string | undefined;
  runDir?: string | undefined;
  port?: number | undefined;
  addresses?: string[] | undefined;
  timeoutMs?: number | undefined;
  nowMs: number;
  /** Where warnings go (the CLI passes stderr). */
  warn: (line: string) => void;
}

export interface RegisterResult {
  prefix: string;
  address: string;
  serial: string;
  not_after: string;
  ca_fingerprint: string;
  fingerprint_checked: boolean;
  key_reused: boolean;
  /** The key file's mode as it is on disk after registration ("0600"). */
  key_mode: string;
  network_config_version: number;
  files: { ca: string; cert: string; key: string; network_config: string; config: string };
  config_written: boolean;
}

export const NODE_FILES = {
  ca: 'ca.crt',
  cert: 'node.crt',
  key: 'node.key',
  networkConfig: 'network-config.json',
  config: 'resilnet.toml',
} as const;

/** Writes via a temp file and rename, so a crash never leaves half a file. */
function writeAtomic(path: string, text: string, mode: number): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode });
  chmodSync(tmp, mode); // the umask may have taken bits off (or an old temp file kept its mode)
  renameSync(tmp, path);
}

/** The commented resilnet.toml `register` writes (parseNodeConfig accepts it). */
export function renderNodeConfig(opts: { registryUrl: string; prefix: string; stateDir: string; runDir: string; port: number; addresses: string[] }): string {
  const v = (value: unknown) => stringifyToml({ v: value }).trim().slice(4);
  return `# resilnet node config, written by \`resilnet register\` for ${opts.prefix}.
# Edit and run \`resilnet reload\` (or systemctl reload resilnet) to apply.
# Paths are relative to this file's folder unless absolute.

[identity]
# CA certificate pinned at registration, this node's certificate and key (mode 0600)
ca = "ca.crt"
cert = "node.crt"
key = "node.key"

[registry]
# where the node renews its certificate, fetches bootstrap peers and sends heartbeats
url = ${v(opts.registryUrl)}
# seconds between heartbeats
heartbeat_interval = 60

[node]
# peer DB and cached network config
state_dir = ${v(opts.stateDir)}
# control socket, child sockets and pid files
run_dir = ${v(opts.runDir)}
log_level = "info"

[underlay]
# UDP port of the peer protocol; incoming tunnels use the ports above it
port = ${opts.port}
# extra underlay addresses to announce ("IP" or "IP:PORT"), e.g. a public address behind port forwarding
addresses = ${v(opts.addresses)}

[babel]
# node-local override of the network's hello interval, seconds
# hello_interval = 1

[tunnels]
# overrides of the network config: outgoing tunnels kept, incoming accepted, seconds between re-planning
# client_count = 4
# max_clients = 10
# refresh = 300
# peers whose tunnels are never replaced
neighbours = []
# seconds a new tunnel is kept before a refresh may replace it
# min_age = 120
# link liveness: seconds between hellos on each tunnel (0 = off), and how many
# missed hellos make a tunnel count as lost (its routes are withdrawn at once)
# link_hello_interval = 0.25
# link_hello_misses = 4
# on a live link, bare beats counted by the peer's tunnel interface instead of most
# signed hellos (false: signed hellos only)
# link_beats = true
# an idle tunnel (not carrying this host's traffic) counts as lost only after this
# many times the missed hellos above, and peers beat to it that much less often
# (1: every tunnel is judged by the short deadline)
# link_idle_pace = 4

[upnp]
# map the tunnel ports on a UPnP IGD gateway
enabled = true
lease = 3600
`;
}

function sameKey(certPem: string, keyPem: string): boolean {
  const a = createPublicKey(certPem).export({ type: 'spki', format: 'der' });
  const b = createPublicKey(keyPem).export({ type: 'spki', format: 'der' });
  return a.equals(b);
}

export async function registerNode(opts: RegisterOptions): Promise<RegisterResult> {
  const dir = resolve(opts.dir);
  const files = {
    ca: join(dir, NODE_FILES.ca),
    cert: join(dir, NODE_FILES.cert),
    key: join(dir, NODE_FILES.key),
    network_config: join(dir, NODE_FILES.networkConfig),
    config: join(dir, NODE_FILES.config),
  };
  const wanted = opts.fingerprint === undefined ? undefined : normalizeFingerprint(opts.fingerprint);
  if (!opts.token.trim()) throw new ResilnetError('RN_ENROL_USAGE', 'missing --token. Ask the registry admin for one (`resilnet registry token add`).');
  for (const a of opts.addresses ?? []) {
    const ep = parseEndpoint(a);
    if (!ep) throw new ResilnetError('RN_ENROL_USAGE', `invalid --address "${a}": use IP, IPv4:PORT or [IPv6]:PORT`);
    const problem = peerAddressProblem(ep.ip);
    if (problem) throw new ResilnetError('RN_ENROL_USAGE', `invalid --address "${a}": ${problem}; announce an address other nodes can reach`);
  }

  const unpinned = new RegistryClient({ url: opts.registryUrl, timeoutMs: opts.timeoutMs });
  let caPem: string;
  try {
    caPem = await unpinned.fetchCaPem();
  } finally {
    unpinned.close();
  }
  const fingerprint = caFingerprint(caPem);
  if (wanted && wanted !== fingerprint) {
    throw new ResilnetError('RN_ENROL_FINGERPRINT_MISMATCH', `registration refused: the registry's CA fingerprint ${fingerprint} does not match --fingerprint ${wanted}`, {
      hint: 'Check the URL and the fingerprint printed by `resilnet registry init` / `registry status`; someone may be intercepting.',
    });
  }

  const previousCa = existsSync(files.ca) ? readFileSync(files.ca, 'utf8') : undefined;
  const sameNetwork = previousCa !== undefined && caFingerprint(previousCa) === fingerprint;
  if (previousCa !== undefined && !sameNetwork && !opts.force) {
    throw new ResilnetError('RN_ENROL_OTHER_NETWORK', `${dir} already holds the identity of another network (CA ${caFingerprint(previousCa)}); this registry's CA is ${fingerprint}`, {
      hint: 'Re-run with --force to replace it (the old key and certificate are overwritten), or use another --dir.',
    });
  }
  if (!wanted && !sameNetwork) {
    opts.warn(`WARNING: the registry's CA fingerprint was NOT checked (no --fingerprint given).`);
    opts.warn(`WARNING: trusting ${fingerprint} from ${opts.registryUrl} on first use.`);
    opts.warn('WARNING: compare it with `resilnet registry status` on the registry host, or pass --fingerprint next time.');
  }

  mkdirSync(dir, { recursive: true, mode: 0o755 });
  // The key survives re-runs (same network); it is replaced only with --force for another network.
  let keyPem: string;
  let keyReused = false;
  if (existsSync(files.key) && (sameNetwork || previousCa === undefined) ) {
    keyPem = readFileSync(files.key, 'utf8');
    keyReused = true;
    const note = ensurePrivateFile(files.key);
    if (note) opts.warn(`WARNING: ${note}: the node key must be readable by its owner only.`);
  } else {
    keyPem = generateKeyPem();
    writeAtomic(files.key, keyPem, 0o600);
  }
  const csrPem = await createCsrPem(keyPem);

  const client = new RegistryClient({ url: opts.registryUrl, caPem, timeoutMs: opts.timeoutMs });
  let enrolled;
  try {
    enrolled = await client.enrol(opts.token.trim(), csrPem);
  } finally {
    client.close();
  }
  const info = verifyCertificate(enrolled.certificate, caPem, { nowMs: opts.nowMs });
  if (!sameKey(enrolled.certificate, keyPem) || info.prefix !== enrolled.prefix) {
    throw new ResilnetError('RN_ENROL_BAD_CERTIFICATE', 'the registry returned a certificate that does not match this node\'s key or prefix. Nothing was written; report this to the registry admin.');
  }
  const networkConfig = verifyNetworkConfig(enrolled.network_config, caPem);

  writeAtomic(files.ca, caPem, 0o644);
  writeAtomic(files.cert, enrolled.certificate, 0o644);
  writeAtomic(files.network_config, `${JSON.stringify(enrolled.network_config, null, 2)}\n`, 0o644);
  const writeConfig = !existsSync(files.config) || opts.force === true || !sameNetwork;
  if (writeConfig) {
    const text = renderNodeConfig({
      registryUrl: opts.registryUrl,
      prefix: info.prefix,
      stateDir: opts.stateDir ? resolve(opts.stateDir) : '/var/lib/resilnet',
      runDir: opts.runDir ? resolve(opts.runDir) : '/run/resilnet',
      port: opts.port ?? 1194,
      addresses: opts.addresses ?? [],
    });
    parseNodeConfig(text, files.config); // never write a config the daemon would refuse
    writeAtomic(files.config, text, 0o644);
  }
  return {
    prefix: info.prefix,
    address: nodeAddress(parsePrefix(info.prefix)),
    serial: info.serial,
    not_after: new Date(info.notAfterMs).toISOString(),
    ca_fingerprint: fingerprint,
    fingerprint_checked: wanted !== undefined,
    key_reused: keyReused,
    key_mode: modeText(statSync(files.key).mode),
    network_config_version: networkConfig.version,
    files,
    config_written: writeConfig,
  };
}
