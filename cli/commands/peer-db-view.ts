// What `peers`, `peers --dead` and `status` show when the daemon does not answer:
// the node's peer DB, opened read-only. The reader never creates, migrates or
// writes the file and holds no lock the daemon waits for (WAL: readers and the
// writer do not block each other), so it is safe while a hung daemon still runs.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ResilnetError } from '../../config/errors.js';
import type { NodeConfig } from '../../config/node-config.js';
import type { PeersRequest, PeerView } from '../../daemon/control/protocol.js';
import { peerView } from '../../daemon/control/peer-view.js';
import { PEER_DB_FILE, readPeerDbFile } from '../../daemon/peers/peer-db.js';
import { readCertificate } from '../../pki/identity.js';
import { formatAgo } from './node-render.js';

/** The `source` of a response read from the peer DB instead of the daemon. */
export const PEER_DB_SOURCE = 'peer-db';

export interface PeerDbSnapshot {
  path: string;
  /** Last change of the file (or its write-ahead log): what the daemon last wrote. */
  asOfMs: number;
  peers: PeerView[];
  networkConfig: { version: number; storedAtMs: number } | null;
}

export interface OfflinePeersResponse {
  source: typeof PEER_DB_SOURCE;
  asOfMs: number;
  path: string;
  peers: PeerView[];
}

export interface OfflineStatus {
  source: typeof PEER_DB_SOURCE;
  asOfMs: number;
  path: string;
  /** Why the daemon's own status is not shown. */
  daemon: string;
  /** From the node certificate, when it can be read. */
  prefix: string | null;
  certificate: { serial: string; notAfterMs: number } | null;
  networkConfig: { version: number; storedAtMs: number } | null;
  peers: { total: number; live: number; dead: number };
}

export function peerDbPath(config: NodeConfig): string {
  return join(config.node.state_dir, PEER_DB_FILE);
}

/** Reads every peer and the cached network config's version; throws RN_PEERDB_OPEN when the file cannot be read. */
export function readPeerDbSnapshot(path: string): PeerDbSnapshot {
  if (!existsSync(path)) {
    throw new ResilnetError('RN_PEERDB_OPEN', `there is no peer DB at ${path} either.`, {
      hint: 'The daemon creates it at its first start (node.state_dir in resilnet.toml). Check the --config it runs with.',
    });
  }
  try {
    const { peers, networkConfig } = readPeerDbFile(path);
    // Which tunnels are open only the daemon knows.
    return { path, asOfMs: lastWriteMs(path), peers: peers.map((x) => peerView(x, false)), networkConfig };
  } catch (err) {
    throw new ResilnetError('RN_PEERDB_OPEN', `cannot read the peer DB ${path} (${(err as Error).message}).`, {
      cause: err,
      hint: 'Run as the daemon\'s user (root). A file from an older resilnet is upgraded by the daemon at its next start.',
    });
  }
}

/** The newer mtime of the DB file and its WAL (recent commits live in the WAL until a checkpoint). */
function lastWriteMs(path: string): number {
  const wal = `${path}-wal`;
  const main = statSync(path).mtimeMs;
  return Math.floor(existsSync(wal) ? Math.max(main, statSync(wal).mtimeMs) : main);
}

export function offlinePeers(snapshot: PeerDbSnapshot, req: PeersRequest): OfflinePeersResponse {
  return {
    source: PEER_DB_SOURCE,
    asOfMs: snapshot.asOfMs,
    path: snapshot.path,
    peers: req.dead ? snapshot.peers.filter((p) => p.dead) : snapshot.peers,
  };
}

export function offlineStatus(snapshot: PeerDbSnapshot, config: NodeConfig, daemon: string): OfflineStatus {
  const cert = readNodeCertificate(config.identity.cert);
  const dead = snapshot.peers.filter((p) => p.dead).length;
  return {
    source: PEER_DB_SOURCE,
    asOfMs: snapshot.asOfMs,
    path: snapshot.path,
    daemon,
    prefix: cert?.prefix ?? null,
    certificate: cert ? { serial: cert.serial, notAfterMs: cert.notAfterMs } : null,
    networkConfig: snapshot.networkConfig,
    peers: { total: snapshot.peers.length, live: snapshot.peers.length - dead, dead },
  };
}

function readNodeCertificate(path: string): { prefix: string; serial: string; notAfterMs: number } | undefined {
  try {
    return readCertificate(readFileSync(path, 'utf8'));
  } catch {
    return undefined; // status still shows the peer DB
  }
}

/** The stderr line that says the output is not the daemon's. */
export function fallbackNotice(reason: string, what: string, asOfMs: number, nowMs: number): string {
  return `daemon not answering (${reason}): showing the ${what} as of ${new Date(asOfMs).toISOString()} (${formatAgo(asOfMs, nowMs)})\n`;
}

export function renderOfflineStatus(s: OfflineStatus, nowMs: number): string {
  const lines = [
    `node         ${s.prefix ?? '(node certificate not readable)'}`,
    `daemon       ${s.daemon}`,
    `peer DB      ${s.path}, last written ${formatAgo(s.asOfMs, nowMs)}`,
    `network      config version ${s.networkConfig ? `${s.networkConfig.version} (stored ${formatAgo(s.networkConfig.storedAtMs, nowMs)})` : '- (none stored yet)'}`,
    ...(s.certificate ? [`certificate  serial ${s.certificate.serial}, expires ${new Date(s.certificate.notAfterMs).toISOString()} (${formatAgo(s.certificate.notAfterMs, nowMs)})`] : []),
    `peers        ${s.peers.total} known, ${s.peers.live} live, ${s.peers.dead} dead (resilnet peers --dead says why)`,
    'tunnels      unknown while the daemon does not answer (resilnet events --since 1h tells what happened)',
  ];
  return `${lines.join('\n')}\n`;
}
