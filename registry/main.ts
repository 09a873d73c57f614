// Wiring for `resilnet registry serve`: loads DIR, makes sure the HTTPS
// certificate covers the listen address, starts the API, the admin socket and
// the purge timer, and stops them all again.
import { X509Certificate, randomInt } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:net';
import { connect } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import { resolve } from 'node:path';
import { chooseLogFormat, logDestination } from '../daemon/log/destination.js';
import { pino, type Logger } from 'pino';
import { ResilnetError } from '../config/errors.js';
import { metricsAddress } from '../config/metrics-listen.js';
import { issueServerCertificate, loadCaSigner, type CaSigner } from '../pki/ca.js';
import type { AdminStatus } from './admin-protocol.js';
import { createAdminServer } from './admin-server.js';
import { RegistryDb } from './db.js';
import { ensurePrivateDir } from './private-files.js';
import { createApiServer } from './http-api.js';
import type { RegistryMetrics } from './metrics.js';
import { loadRegistryConfig, registryPath } from './registry-config.js';
import { RegistryService } from './service.js';

const DAY_MS = 86_400_000;
const SERVER_CERT_DAYS = 825;

export interface StartOptions {
  dir: string;
  /** Overrides registry.toml http.listen ("HOST:PORT", "[v6]:PORT", ":PORT"; port 0 = any free port). */
  listen?: string | undefined;
  /** Overrides registry.toml http.urls. */
  urls?: string[] | undefined;
  /** Overrides registry.toml metrics.listen ("" = off; port 0 = any free port). */
  metricsListen?: string | undefined;
  log?: Logger | undefined;
  nowMs?: (() => number) | undefined;
}

export interface RunningRegistry {
  readonly dir: string;
  readonly host: string;
  readonly port: number;
  /** The URLs published in the network config. */
  readonly urls: string[];
  readonly adminSocket: string;
  /** Where the metrics are served ("IP:PORT"), or null: off or not bound. */
  readonly metricsListen: string | null;
  readonly service: RegistryService;
  /** Purge and re-sign now (what the timer and SIGHUP do); failures are logged. */
  maintainNow(): Promise<void>;
  stop(): Promise<void>;
}

/** "HOST:PORT", "[v6]:PORT", ":PORT" or "PORT" → host and port. */
export function parseListen(text: string): { host: string; port: number } {
  const t = text.trim();
  const bad = () =>
    new ResilnetError('RN_REGISTRY_LISTEN_INVALID', `invalid listen address "${text}": use HOST:PORT, [IPv6]:PORT or :PORT (e.g. 0.0.0.0:8443)`);
  let host: string;
  let portText: string;
  const v6 = /^\[([^\]]+)\]:(\d{1,5})$/.exec(t);
  if (v6) {
    host = v6[1]!;
    portText = v6[2]!;
  } else if (/^\d{1,5}$/.test(t)) {
    host = '::';
    portText = t;
  } else {
    const colon = t.lastIndexOf(':');
    if (colon < 0) throw bad();
    host = t.slice(0, colon) || '::';
    portText = t.slice(colon + 1);
    if (host.includes(':') && host !== '::') throw bad();
  }
  const port = Number(portText);
  if (!/^\d{1,5}$/.test(portText) || port > 65535 || host === '') throw bad();
  return { host, port };
}

const isWildcard = (host: string) => host === '::' || host === '0.0.0.0';

function localAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (!a.address.startsWith('fe80')) out.push(a.address);
  }
  return out;
}

function defaultUrl(host: string, port: number): string {
  let h = host;
  if (isWildcard(host)) {
    const v4 = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal);
    h = v4?.address ?? '127.0.0.1';
  }
  return h.includes(':') ? `https://[${h}]:${port}` : `https://${h}:${port}`;
}

/** Issues registry.crt when missing, not from this CA, expiring within 30 days, or not covering a name. */
async function ensureServerCert(dir: string, ca: CaSigner, db: RegistryDb, names: string[], nowMs: number, log: Logger): Promise<{ certPem: string; keyPem: string }> {
  const certPath = registryPath(dir, 'serverCert');
  const keyPath = registryPath(dir, 'serverKey');
  if (existsSync(certPath) && existsSync(keyPath)) {
    const certPem = readFileSync(certPath, 'utf8');
    const keyPem = readFileSync(keyPath, 'utf8');
    try {
      const cert = new X509Certificate(certPem);
      const caCert = new X509Certificate(ca.certPem);
      const covers = names.every((n) => (n.includes(':') || /^\d+\.\d+\.\d+\.\d+$/.test(n) ? cert.checkIP(n) : cert.checkHost(n)));
      if (cert.verify(caCert.publicKey) && Date.parse(cert.validTo) - nowMs > 30 * DAY_MS && covers) return { certPem, keyPem };
    } catch (err) {
      log.warn({ err }, 'registry HTTPS certificate unreadable; issuing a new one');
    }
  }
  const serial = db.transaction(() => db.nextSerialTx());
  const issued = await issueServerCertificate(ca, { serial, names, notBeforeMs: nowMs - 5 * 60_000, notAfterMs: nowMs + SERVER_CERT_DAYS * DAY_MS });
  writeFileSync(keyPath, issued.keyPem, { mode: 0o600 });
  writeFileSync(certPath, issued.certPem, { mode: 0o644 });
  log.info({ names }, 'registry HTTPS certificate issued');
  return issued;
}

function listenOn(server: Server, where: { host: string; port: number } | { path: string }): Promise<void> {
  return new Promise((resolveListen, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const what = 'path' in where ? where.path : `${where.host}:${where.port}`;
      reject(new ResilnetError('RN_REGISTRY_LISTEN_FAILED', `cannot listen on ${what} (${err.code}). Pick another --listen, or stop what uses it.`, { cause: err }));
    };
    server.once('error', onError);
    server.listen(where, () => {
      server.off('error', onError);
      resolveListen();
    });
  });
}

/** Removes a stale admin socket; refuses when another registry answers on it. */
async function claimSocket(path: string): Promise<void> {
  if (!existsSync(path)) return;
  const alive = await new Promise<boolean>((done) => {
    const s = connect(path);
    s.once('connect', () => (s.destroy(), done(true)));
    s.once('error', () => done(false));
  });
  if (alive) {
    throw new ResilnetError('RN_REGISTRY_ALREADY_RUNNING', `another registry is already serving ${path}`, { hint: 'Stop it first, or use another --dir.' });
  }
  unlinkSync(path);
}

export async function startRegistry(opts: StartOptions): Promise<RunningRegistry> {
  const dir = resolve(opts.dir);
  // Under journald, lines carry their syslog priority (daemon/log/destination.ts), as the node's do.
  const root = opts.log ?? pino({}, logDestination(chooseLogFormat(process.env, process.stdout), process.stdout, process.env));
  const log = root.child({ component: 'registry' });
  const nowMs = opts.nowMs ?? Date.now;
  const config = loadRegistryConfig(dir);
  const { host, port } = parseListen(opts.listen ?? config.http.listen);
  const metricsAt = metricsAddress({ listen: opts.metricsListen ?? config.metrics.listen });
  const ca = await loadCaSigner(readFileSync(registryPath(dir, 'caCert'), 'utf8'), readFileSync(registryPath(dir, 'caKey'), 'utf8'));
  const adminSocket = registryPath(dir, 'adminSocket');
  await claimSocket(adminSocket);
  const dirNote = ensurePrivateDir(dir);
  if (dirNote) log.warn(dirNote);
  const db = new RegistryDb(registryPath(dir, 'db'));
  for (const note of db.tightened) log.warn(`${note} (the store holds token hashes, e-mails and addresses)`);
  const closers: (() => Promise<void> | void)[] = [() => db.close()];
  const stop = async () => {
    for (const close of closers.reverse()) await close();
    closers.length = 0;
  };
  try {
    const urlsGiven = opts.urls?.length ? opts.urls : config.http.urls;
    const names = new Set(['localhost', '127.0.0.1', '::1', hostname()]);
    if (isWildcard(host)) for (const a of localAddresses()) names.add(a);
    else names.add(host);
    for (const u of urlsGiven) names.add(new URL(u).hostname.replace(/^\[|\]$/g, ''));
    const tls = await ensureServerCert(dir, ca, db, [...names], nowMs(), log);

    const registryUrls: string[] = [];
    // prom-client is loaded only by a registry that serves metrics.
    const metrics: RegistryMetrics | undefined = metricsAt ? new (await import('./metrics.js')).RegistryMetrics({ nodeCounts: () => service.nodeCounts(), configVersion: () => service.configVersion() }) : undefined;
    const service: RegistryService = new RegistryService({
      db, ca, config, registryUrls, nowMs, activity: metrics, rand: () => randomInt(0, 2 ** 32) / 2 ** 32, log: root.child({ component: 'registry.service' }),
    });
    closers.push(() => service.flushHeartbeats()); // runs after the servers closed, before the store
    const api = createApiServer({
      service, certPem: tls.certPem, keyPem: tls.keyPem, graceDays: config.certificates.grace_days,
      requestTimeoutMs: config.http.request_timeout_sec * 1000, maxConnectionsPerAddress: config.http.max_connections_per_address, log: root.child({ component: 'registry.http' }),
      requests: metrics,
      statusAdminFingerprints: config.status.admin_fingerprints,
    });
    let boundHost = host;
    try {
      await listenOn(api, { host, port });
    } catch (err) {
      // "[::]" on a host without IPv6: serve IPv4 only rather than nothing.
      const code = ((err as ResilnetError).cause as NodeJS.ErrnoException | undefined)?.code;
      if (host !== '::' || (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL')) throw err;
      boundHost = '0.0.0.0';
      log.warn({ listen: `[::]:${port}` }, 'IPv6 unavailable; listening on 0.0.0.0 only');
      await listenOn(api, { host: boundHost, port });
    }
    closers.push(() => new Promise<void>((done) => {
      api.close(() => done());
      api.closeAllConnections();
    }));
    const actualPort = (api.address() as { port: number }).port;
    registryUrls.push(...(urlsGiven.length ? urlsGiven : [defaultUrl(boundHost, actualPort)]));
    await service.start();

    const status = (): AdminStatus => ({
      network_prefix: config.network.prefix, node_prefix_length: config.network.node_prefix_length,
      ca_fingerprint: service.fingerprint, network_config_version: service.configVersion(),
      listen: `${boundHost.includes(':') ? `[${boundHost}]` : boundHost}:${actualPort}`, urls: registryUrls,
    });
    const admin = createAdminServer({ service, status, log: root.child({ component: 'registry.admin' }) });
    await listenOn(admin, { path: adminSocket });
    chmodSync(adminSocket, 0o600);
    closers.push(() => new Promise<void>((done) => {
      admin.close(() => done());
      admin.closeAllConnections();
      if (existsSync(adminSocket)) unlinkSync(adminSocket);
    }));

    const metricsListen = metrics && metricsAt ? await metrics.serve(metricsAt, root.child({ component: 'registry.metrics' })) : null;
    if (metrics) closers.push(() => metrics.stop());

    const maintainNow = async () => {
      await service.maintain().catch((err: unknown) => log.error({ err }, 'purge failed'));
    };
    const purge = setInterval(() => void maintainNow(), config.liveness.purge_interval_sec * 1000);
    const flush = setInterval(() => service.flushHeartbeats(), 1000);
    closers.push(() => clearInterval(flush));
    closers.push(() => clearInterval(purge));
    log.info({ listen: status().listen, urls: registryUrls, fingerprint: service.fingerprint }, 'registry serving');
    return { dir, host: boundHost, port: actualPort, urls: registryUrls, adminSocket, metricsListen, service, maintainNow, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Runs until SIGINT/SIGTERM, then stops cleanly. Only the CLI's serve command calls this. */
export async function serveUntilSignal(opts: StartOptions, onReady?: (r: RunningRegistry) => void): Promise<void> {
  const running = await startRegistry(opts);
  onReady?.(running);
  // SIGHUP (systemctl reload): purge and re-sign now; registry.toml changes need a restart.
  const onHup = () => void running.maintainNow();
  process.on('SIGHUP', onHup);
  await new Promise<void>((done) => {
    const onSignal = () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      done();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  process.off('SIGHUP', onHup);
  await running.stop();
}
