// The registry's behaviour, independent of HTTP: enrolment, renewal,
// revocation, CRL and network-config versions, bootstrap, heartbeats, tokens
// and purging. The HTTPS API and the admin socket are thin layers over this.
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { ResilnetError } from '../config/errors.js';
import { canonicalPrefix, parsePrefix, type Ipv6Prefix } from '../config/ipv6.js';
import type { NetworkConfig, SignedNetworkConfig } from '../config/network-config.js';
import { peerAddressProblem } from '../config/peer-address.js';
import { signedNetworkConfigSchema } from '../config/network-config.js';
import { createCrl, issueNodeCertificate, type CaSigner } from '../pki/ca.js';
import { readCsr } from '../pki/csr.js';
import { derToPem } from '../pki/der.js';
import { caFingerprint, normalizeSerial, verifyCertificate, type CertInfo } from '../pki/identity.js';
import { verifyNetworkConfig, signNetworkConfig } from '../pki/network-config.js';
import { parseEndpoint, type BootstrapResponse, type EnrolResponse, type HeartbeatReply, type NatClass, type ParsedHeartbeat } from '../wire/registry-api.js';
import { pickBootstrapPeers, toCandidates, type BootstrapCandidate } from './bootstrap.js';
import type { HeartbeatRecord, NodeRow, NodeState, RegistryDb } from './db.js';
import { buildNetworkConfig, parseSetting, sameConfigContent, type Overrides } from './network-config-build.js';
import { allocatePrefix, checkLengths } from './prefix-alloc.js';
import type { RegistryActivity } from './metrics.js';
import type { RegistryConfig } from './registry-config.js';
import { checkToken, hashSecret, newToken, splitToken, tokenState, type TokenRow } from './tokens.js';
import { storedNatClass, tunnelReports, type TunnelReport } from './tunnel-reports.js';

const DAY_MS = 86_400_000;
/** Certificates start a little in the past so small clock skew does not reject them. */
const NOT_BEFORE_SKEW_MS = 5 * 60_000;
/** Bootstrap picks from at most this many most-recently-seen nodes. */
const BOOTSTRAP_CANDIDATES = 1000;
const CANDIDATES_TTL_MS = 1000;
const HEARTBEAT_BATCH = 2000;

export interface RegistryServiceDeps {
  db: RegistryDb;
  ca: CaSigner;
  config: RegistryConfig;
  /** registry_urls of the network config when no `config set registry_urls` override exists. */
  registryUrls: string[];
  nowMs: () => number;
  rand: () => number;
  log: Logger;
  /** Told of each enrolment, renewal and revocation (the metrics). */
  activity?: RegistryActivity | undefined;
  /** Called between the reservation and the certificate write: lets a test crash the process there. */
  testOnlyAfterReservation?: (() => void) | undefined;
}

export interface TokenView {
  id: string;
  state: 'usable' | 'used' | 'expired' | 'revoked';
  uses_total: number;
  uses_left: number;
  email: string | null;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
}

export interface NodeView {
  prefix: string;
  state: 'online' | 'offline' | 'never-seen' | 'revoked';
  email: string | null;
  enrolled_at: string;
  expires_at: string;
  revoked_at: string | null;
  last_seen: string | null;
  seen_address: string | null;
  port: number | null;
  addresses: { address: string; kind: string }[];
  /** How many tunnels the last heartbeat listed (tunnel_list has them). */
  tunnels: number;
  tunnel_list: TunnelReport[];
  /** As the node classified itself in its last heartbeat; null: it did not say. */
  nat_class: NatClass | null;
  network_config_version: number | null;
  serials: string[];
}

/** A node as the status page shows it: no e-mail, no serials (one query less per node). */
export type StatusNodeView = Omit<NodeView, 'email' | 'serials'>;

export interface StatusSnapshot {
  generated_at: string;
  network_prefix: string;
  /** All nodes in the store; `nodes` holds at most the limit asked for. */
  total_nodes: number;
  offline_after_sec: number;
  nodes: StatusNodeView[];
}

export interface RevokeResult {
  prefix: string | null;
  revoked_serials: string[];
  network_config_version: number;
}

export interface ConfigView {
  version: number;
  config: NetworkConfig;
  overrides: Record<string, unknown>;
}

/** Every reported address must be one a peer can use; one bad record refuses the heartbeat (400, with the reason). */
function refuseUnusableAddresses(addresses: readonly { address: string }[]): void {
  for (const [i, a] of addresses.entries()) {
    const ep = parseEndpoint(a.address);
    const problem = ep ? peerAddressProblem(ep.ip) : `"${a.address}" is not "IP", "IPv4:PORT" or "[IPv6]:PORT"`;
    if (problem) {
      throw new ResilnetError('RN_REGISTRY_ADDRESS_REFUSED', `heartbeat refused: addresses.${i} (${a.address}): ${problem}`, {
        hint: 'Announce only addresses other nodes can reach: no zone IDs, loopback, link-local, unspecified or multicast addresses.',
      });
    }
  }
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export class RegistryService {
  private readonly d: RegistryServiceDeps;
  private readonly network: Ipv6Prefix;
  private readonly nodeLength: number;
  private readonly caFingerprintText: string;
  private revokedSerials = new Set<string>();
  private current: { config: NetworkConfig; signed: SignedNetworkConfig } | undefined;
  private crlPemText = '';
  /** Serialises CRL/config re-signing so concurrent changes all land. */
  private updates: Promise<unknown> = Promise.resolve();
  /** Verified client certificates by DER hash: chain checks once per certificate. */
  private readonly certCache = new Map<string, CertInfo>();
  private readonly pendingHeartbeats = new Map<string, HeartbeatRecord>();
  private candidates: { atMs: number; nodes: BootstrapCandidate[]; prefixes: Set<string> } | undefined;

  constructor(deps: RegistryServiceDeps) {
    this.d = deps;
    this.network = parsePrefix(deps.config.network.prefix);
    this.nodeLength = deps.config.network.node_prefix_length;
    checkLengths(this.network, this.nodeLength);
    if (deps.ca.networkPrefix !== deps.config.network.prefix) {
      throw new ResilnetError('RN_REGISTRY_CONFIG_MISMATCH', `registry.toml network.prefix ${deps.config.network.prefix} differs from the CA's network ${deps.ca.networkPrefix}`);
    }
    this.caFingerprintText = caFingerprint(deps.ca.certPem);
  }

  private get graceMs(): number {
    return this.d.config.certificates.grace_days * DAY_MS;
  }

  /** Loads persisted CRL/config state and brings both up to date. Run before serving. */
  async start(): Promise<void> {
    this.recoverUnfinishedEnrolments();
    for (const c of this.d.db.revokedCerts(0)) this.revokedSerials.add(c.serial);
    const stored = this.d.db.getMeta('network_config');
    if (stored) {
      const signed = signedNetworkConfigSchema.parse(JSON.parse(stored));
      this.current = { signed, config: verifyNetworkConfig(signed, this.d.ca.certPem) };
    }
    this.crlPemText = this.d.db.getMeta('crl_pem') ?? '';
    await this.serialised(() => this.refreshCrlAndConfig());
  }

  get caPem(): string {
    return this.d.ca.certPem;
  }

  get fingerprint(): string {
    return this.caFingerprintText;
  }

  get networkPrefix(): string {
    return this.d.config.network.prefix;
  }

  signedConfig(): SignedNetworkConfig {
    return this.requireCurrent().signed;
  }

  configVersion(): number {
    return this.requireCurrent().config.version;
  }

  crlPem(): string {
    return this.crlPemText;
  }

  private requireCurrent() {
    if (!this.current) throw new ResilnetError('RN_REGISTRY_NOT_READY', 'registry is still starting; try again in a moment');
    return this.current;
  }

  // ---- enrolment and renewal -------------------------------------------------

  async enrol(tokenText: string, csrPem: string): Promise<EnrolResponse> {
    const csr = readCsr(csrPem); // a bad CSR must not spend the token
    const nowMs = this.d.nowMs();
    const notBeforeMs = nowMs - NOT_BEFORE_SKEW_MS;
    const notAfterMs = nowMs + this.d.config.certificates.days * DAY_MS;
    const parts = splitToken(tokenText);
    // One synchronous IMMEDIATE transaction: the token use, the prefix and the
    // serial are taken together or not at all, also under concurrent requests.
    const reserved = this.d.db.transaction(() => {
      const row = checkToken(tokenText, parts ? this.d.db.getToken(parts.id) : undefined, nowMs);
      if (!this.d.db.spendToken(row.id)) checkToken(tokenText, { ...row, usesLeft: 0 }, nowMs);
      const existing = this.d.db.liveNodeByKey(csr.keySha256);
      let prefix: string;
      let isNew = false;
      if (existing) {
        prefix = existing.prefix; // the same key enrolling again keeps its prefix
      } else {
        const alloc = allocatePrefix(this.network, this.nodeLength, this.d.db.usedPrefixIndexes());
        prefix = alloc.prefix;
        isNew = true;
        this.d.db.insertNode({
          prefix, prefixIndex: alloc.index, keySha256: csr.keySha256, email: row.email, tokenId: row.id,
          enrolledAtMs: nowMs, expiresAtMs: notAfterMs,
        });
      }
      const serial = this.d.db.nextSerialTx();
      this.d.db.insertCert({ serial, prefix, notBeforeMs, notAfterMs, issuedAtMs: nowMs, tokenId: row.id });
      return { prefix, serial, isNew, tokenId: row.id };
    });
    this.d.testOnlyAfterReservation?.();
    let certificate: string;
    try {
      certificate = await issueNodeCertificate(this.d.ca, {
        prefix: reserved.prefix, serial: reserved.serial, publicKeySpki: csr.publicKeySpki, notBeforeMs, notAfterMs,
      });
    } catch (err) {
      this.d.db.transaction(() => {
        this.d.db.deleteCert(reserved.serial);
        if (reserved.isNew) this.d.db.deleteNode(reserved.prefix);
        this.d.db.refundToken(reserved.tokenId);
      });
      throw err;
    }
    this.d.db.transaction(() => {
      this.d.db.setCertPem(reserved.serial, certificate);
      this.d.db.updateNodeCert(reserved.prefix, csr.keySha256, notAfterMs);
    });
    this.d.log.info({ peer: reserved.prefix, serial: reserved.serial, token: reserved.tokenId }, reserved.isNew ? 'node enrolled' : 'node re-enrolled');
    this.d.activity?.enrolled(!reserved.isNew);
    return { certificate, ca: this.d.ca.certPem, prefix: reserved.prefix, network_config: this.signedConfig() };
  }

  /**
   * Undoes reservations a crash left between reservation and certificate write:
   * the certificate row goes, the token use comes back, and a node that never
   * got a certificate is removed so its prefix returns to the pool. Runs at
   * start, before any request can hold a reservation.
   */
  recoverUnfinishedEnrolments(): { serials: string[]; prefixes: string[]; tokenUses: number } {
    const out = this.d.db.transaction(() => {
      const done = { serials: [] as string[], prefixes: [] as string[], tokenUses: 0 };
      for (const cert of this.d.db.unfinishedCerts()) {
        this.d.db.deleteCert(cert.serial);
        done.serials.push(cert.serial);
        let tokenId = cert.tokenId;
        const node = this.d.db.getNode(cert.prefix);
        if (node && this.d.db.issuedCertCount(cert.prefix) === 0 && this.d.db.unfinishedCerts().every((c) => c.prefix !== cert.prefix)) {
          this.d.db.deleteNode(cert.prefix);
          done.prefixes.push(cert.prefix);
          tokenId ??= node.tokenId; // a store from before token_id was recorded
        }
        if (tokenId !== null) {
          this.d.db.refundToken(tokenId);
          done.tokenUses++;
        }
      }
      return done;
    });
    if (out.serials.length > 0) {
      this.d.log.warn(out, 'enrolments interrupted by a crash undone: token uses given back, prefixes without a certificate freed');
    }
    return out;
  }

  /**
   * Checks a client certificate (DER from the TLS handshake): issued by our
   * CA, valid (plus graceMs), not revoked, and its node still known.
   */
  authenticate(raw: Buffer | undefined, opts: { graceMs?: number } = {}): CertInfo {
    const info = this.verifyClientCertificate(raw);
    this.checkAuthorized(info, opts);
    return info;
  }

  /** The expensive part of authenticate (chain check), cached per certificate. */
  verifyClientCertificate(raw: Buffer | undefined): CertInfo {
    if (!raw || raw.length === 0) {
      throw new ResilnetError('RN_REGISTRY_AUTH_REQUIRED', 'this request needs the node certificate (mutual TLS)', {
        hint: 'Send the node.crt/node.key written by `resilnet register`.',
      });
    }
    const key = createHash('sha256').update(raw).digest('base64');
    let info = this.certCache.get(key);
    if (!info) {
      // Validity and revocation are checked on every request by checkAuthorized.
      info = verifyCertificate(derToPem(raw, 'CERTIFICATE'), this.d.ca.certPem, { nowMs: this.d.nowMs(), graceMs: Number.MAX_SAFE_INTEGER });
      if (this.certCache.size >= 10_000) this.certCache.clear();
      this.certCache.set(key, info);
    }
    return info;
  }

  /** The cheap part, run on every request: validity, revocation, node still registered. */
  checkAuthorized(info: CertInfo, opts: { graceMs?: number } = {}): void {
    const nowMs = this.d.nowMs();
    if (nowMs < info.notBeforeMs) {
      throw new ResilnetError('RN_PKI_CERT_INVALID', `certificate ${info.prefix} is not valid yet (check the clocks)`);
    }
    if (nowMs > info.notAfterMs + (opts.graceMs ?? 0)) {
      throw new ResilnetError('RN_PKI_CERT_EXPIRED', `certificate ${info.prefix} expired at ${new Date(info.notAfterMs).toISOString()}`, {
        hint: 'Register the node again: resilnet register --force …',
      });
    }
    if (this.revokedSerials.has(info.serial)) {
      throw new ResilnetError('RN_PKI_CERT_REVOKED', `certificate ${info.prefix} (serial ${info.serial}) is revoked`);
    }
    const revokedAtMs = this.d.db.nodeRevokedAt(info.prefix);
    if (revokedAtMs === undefined) {
      throw new ResilnetError('RN_REGISTRY_NODE_UNKNOWN', `node ${info.prefix} is not registered here (purged or from another registry). Register again.`);
    }
    if (revokedAtMs !== null) {
      throw new ResilnetError('RN_PKI_CERT_REVOKED', `node ${info.prefix} is revoked`);
    }
  }

  async renew(node: CertInfo, csrPem: string): Promise<{ certificate: string }> {
    const csr = readCsr(csrPem);
    const nowMs = this.d.nowMs();
    const windowMs = this.d.config.certificates.renew_window_days * DAY_MS;
    if (nowMs < node.notAfterMs - windowMs) {
      throw new ResilnetError('RN_REGISTRY_RENEW_TOO_EARLY', `renewal of ${node.prefix} refused: the renewal window opens at ${new Date(node.notAfterMs - windowMs).toISOString()}`, {
        details: { opensAtMs: node.notAfterMs - windowMs },
      });
    }
    const notBeforeMs = nowMs - NOT_BEFORE_SKEW_MS;
    const notAfterMs = nowMs + this.d.config.certificates.days * DAY_MS;
    const serial = this.d.db.transaction(() => {
      const s = this.d.db.nextSerialTx();
      this.d.db.insertCert({ serial: s, prefix: node.prefix, notBeforeMs, notAfterMs, issuedAtMs: nowMs });
      return s;
    });
    let certificate: string;
    try {
      certificate = await issueNodeCertificate(this.d.ca, { prefix: node.prefix, serial, publicKeySpki: csr.publicKeySpki, notBeforeMs, notAfterMs });
    } catch (err) {
      this.d.db.deleteCert(serial);
      throw err;
    }
    this.d.db.transaction(() => {
      this.d.db.setCertPem(serial, certificate);
      this.d.db.updateNodeCert(node.prefix, csr.keySha256, notAfterMs);
    });
    this.d.log.info({ peer: node.prefix, serial, oldSerial: node.serial }, 'certificate renewed');
    this.d.activity?.renewed();
    return { certificate };
  }

  // ---- liveness --------------------------------------------------------------

  heartbeat(node: CertInfo, body: ParsedHeartbeat, remoteIp: string): HeartbeatReply {
    refuseUnusableAddresses(body.addresses);
    const seen = remoteIp.startsWith('::ffff:') && remoteIp.includes('.') ? remoteIp.slice(7) : remoteIp;
    // Buffered and written in batches (flushHeartbeats): one transaction per
    // batch instead of per request. A crash loses at most the last second of last-seen times.
    this.pendingHeartbeats.set(node.prefix, {
      prefix: node.prefix,
      nowMs: this.d.nowMs(),
      seenAddress: seen,
      port: body.port,
      addresses: body.addresses,
      tunnels: body.tunnels,
      configVersion: body.network_config_version,
      natClass: body.natClass ?? null,
    });
    if (this.pendingHeartbeats.size >= HEARTBEAT_BATCH) this.flushHeartbeats();
    // A node that was not a bootstrap candidate yet should be one at once.
    if (this.candidates && !this.candidates.prefixes.has(node.prefix)) this.candidates = undefined;
    return { seen_address: seen, network_config_version: this.configVersion() };
  }

  /** Writes buffered heartbeats in one transaction; run by a timer, before reads and at stop. */
  flushHeartbeats(): void {
    if (this.pendingHeartbeats.size === 0) return;
    const batch = [...this.pendingHeartbeats.values()];
    this.pendingHeartbeats.clear();
    try {
      this.d.db.transaction(() => {
        for (const h of batch) this.d.db.recordHeartbeat(h);
      });
    } catch (err) {
      this.d.log.error({ err, count: batch.length }, 'heartbeats could not be stored');
    }
  }

  bootstrap(node: CertInfo, count: number): BootstrapResponse {
    const nowMs = this.d.nowMs();
    const offlineAfterMs = this.d.config.liveness.offline_after_sec * 1000;
    // Candidates are re-read at most once per CANDIDATES_TTL_MS.
    if (!this.candidates || nowMs - this.candidates.atMs >= CANDIDATES_TTL_MS || nowMs < this.candidates.atMs) {
      this.flushHeartbeats();
      const nodes = this.d.db.recentNodes(nowMs - offlineAfterMs, '', BOOTSTRAP_CANDIDATES);
      this.candidates = { atMs: nowMs, nodes: toCandidates(nodes), prefixes: new Set(nodes.map((n) => n.prefix)) };
    }
    const peers = pickBootstrapPeers(this.candidates.nodes, { callerPrefix: node.prefix, count, nowMs, offlineAfterMs, rand: this.d.rand });
    return { peers };
  }

  // ---- admin -------------------------------------------------------------------

  addToken(opts: { uses: number; expiresInMs?: number | undefined; email?: string | undefined }): { token: string; view: TokenView } {
    if (!Number.isInteger(opts.uses) || opts.uses < 1 || opts.uses > 1_000_000) {
      throw new ResilnetError('RN_REGISTRY_BAD_REQUEST', `invalid --uses ${opts.uses}: must be a whole number from 1 to 1000000`);
    }
    const nowMs = this.d.nowMs();
    const t = newToken();
    const row = {
      id: t.id, secretSha256: hashSecret(t.secret), usesTotal: opts.uses, usesLeft: opts.uses,
      email: opts.email ?? null, createdAtMs: nowMs, expiresAtMs: opts.expiresInMs === undefined ? null : nowMs + opts.expiresInMs,
    };
    this.d.db.insertToken(row);
    this.d.log.info({ token: t.id, uses: opts.uses, email: row.email }, 'token added');
    return { token: t.text, view: this.tokenView({ ...row, revokedAtMs: null }, nowMs) };
  }

  listTokens(): TokenView[] {
    const nowMs = this.d.nowMs();
    return this.d.db.listTokens().map((r) => this.tokenView(r, nowMs));
  }

  /** Revokes a token given as its full text or its ID. */
  revokeToken(tokenOrId: string): TokenView {
    const id = splitToken(tokenOrId)?.id ?? tokenOrId.trim();
    const nowMs = this.d.nowMs();
    this.d.db.revokeToken(id, nowMs);
    const row = this.d.db.getToken(id);
    if (!row) throw new ResilnetError('RN_REGISTRY_TOKEN_UNKNOWN', `no token "${id}" on this registry. List them with: resilnet registry token list`);
    this.d.log.info({ token: id }, 'token revoked');
    return this.tokenView(row, nowMs);
  }

  private tokenView(r: TokenRow, nowMs: number): TokenView {
    return {
      id: r.id, state: tokenState(r, nowMs), uses_total: r.usesTotal, uses_left: r.usesLeft, email: r.email,
      created_at: iso(r.createdAtMs)!, expires_at: iso(r.expiresAtMs), revoked_at: iso(r.revokedAtMs),
    };
  }

  listNodes(): NodeView[] {
    this.flushHeartbeats();
    const nowMs = this.d.nowMs();
    const offlineAfterMs = this.d.config.liveness.offline_after_sec * 1000;
    return this.d.db.listNodes().map((n) => this.nodeView(n, nowMs, offlineAfterMs));
  }

  /** Enrolled nodes per state, counted by the store in one query (metrics scrapes). */
  nodeCounts(): Record<NodeState, number> {
    this.flushHeartbeats();
    return this.d.db.nodeStateCounts(this.d.nowMs() - this.d.config.liveness.offline_after_sec * 1000);
  }

  /**
   * The status page's view: at most `limit` nodes (unrevoked and recently seen
   * first), so one request reads a bounded number of rows whatever the store holds.
   */
  statusSnapshot(limit: number): StatusSnapshot {
    this.flushHeartbeats();
    const nowMs = this.d.nowMs();
    const offlineAfterMs = this.d.config.liveness.offline_after_sec * 1000;
    return {
      generated_at: iso(nowMs)!,
      network_prefix: this.networkPrefix,
      total_nodes: this.d.db.nodeCount(),
      offline_after_sec: this.d.config.liveness.offline_after_sec,
      nodes: this.d.db.statusNodes(limit).map((n) => this.nodeSummary(n, nowMs, offlineAfterMs)),
    };
  }

  private nodeSummary(n: NodeRow, nowMs: number, offlineAfterMs: number): StatusNodeView {
    const state: NodeView['state'] =
      n.revokedAtMs !== null ? 'revoked' : n.lastSeenMs === null ? 'never-seen' : nowMs - n.lastSeenMs <= offlineAfterMs ? 'online' : 'offline';
    const tunnels = tunnelReports(n.tunnels);
    return {
      prefix: n.prefix, state, enrolled_at: iso(n.enrolledAtMs)!, expires_at: iso(n.expiresAtMs)!,
      revoked_at: iso(n.revokedAtMs), last_seen: iso(n.lastSeenMs), seen_address: n.seenAddress, port: n.port,
      addresses: n.addresses, tunnels: tunnels.length, tunnel_list: tunnels, nat_class: storedNatClass(n.natClass),
      network_config_version: n.configVersion,
    };
  }

  private nodeView(n: NodeRow, nowMs: number, offlineAfterMs: number): NodeView {
    return {
      ...this.nodeSummary(n, nowMs, offlineAfterMs),
      email: n.email,
      serials: this.d.db.certsOfPrefix(n.prefix).filter((c) => c.pem !== null).map((c) => c.serial),
    };
  }

  /** Revokes a node (by prefix: all its certificates) or one certificate (by serial). */
  async revoke(target: string): Promise<RevokeResult> {
    const nowMs = this.d.nowMs();
    const aliveAtMs = nowMs - this.graceMs;
    const looksLikePrefix = target.includes(':') || target.includes('/');
    const result = this.d.db.transaction((): { prefix: string | null; serials: string[] } => {
      if (looksLikePrefix) {
        let prefix: string;
        try {
          prefix = canonicalPrefix(target.includes('/') ? target : `${target}/${this.nodeLength}`);
        } catch (err) {
          throw new ResilnetError('RN_REGISTRY_BAD_REQUEST', `cannot revoke "${target}": ${(err as Error).message}`, { cause: err });
        }
        const node = this.d.db.getNode(prefix);
        if (!node) throw new ResilnetError('RN_REGISTRY_NODE_UNKNOWN', `cannot revoke ${prefix}: no such node. List them with: resilnet registry nodes`);
        const serials = this.d.db.revokeLiveCertsOfPrefix(prefix, nowMs, aliveAtMs);
        this.d.db.revokeNode(prefix, nowMs);
        return { prefix, serials };
      }
      let serial: string;
      try {
        serial = normalizeSerial(target);
      } catch (err) {
        throw new ResilnetError('RN_REGISTRY_BAD_REQUEST', `cannot revoke "${target}": not a prefix or a hex serial`, { cause: err });
      }
      const cert = this.d.db.getCert(serial);
      if (!cert || cert.pem === null) throw new ResilnetError('RN_REGISTRY_CERT_UNKNOWN', `cannot revoke serial ${serial}: this registry never issued it`);
      const changed = this.d.db.revokeCert(serial, nowMs);
      // A node with no usable certificate left is revoked as a whole.
      if (this.d.db.countLiveUnrevoked(cert.prefix, nowMs) === 0) this.d.db.revokeNode(cert.prefix, nowMs);
      return { prefix: cert.prefix, serials: changed ? [serial] : [] };
    });
    for (const s of result.serials) this.revokedSerials.add(s);
    this.d.activity?.revoked(result.serials.length);
    this.candidates = undefined;
    await this.serialised(() => this.refreshCrlAndConfig());
    this.d.log.info({ peer: result.prefix, serials: result.serials }, 'revoked');
    return { prefix: result.prefix, revoked_serials: result.serials, network_config_version: this.configVersion() };
  }

  configView(): ConfigView {
    const cur = this.requireCurrent();
    return { version: cur.config.version, config: cur.config, overrides: this.d.db.getSettings() };
  }

  /** Applies KEY=VALUE settings; the config is validated before anything is stored. */
  async setConfig(pairs: string[]): Promise<ConfigView> {
    if (pairs.length === 0) throw new ResilnetError('RN_REGISTRY_BAD_REQUEST', 'nothing to set: give at least one KEY=VALUE');
    const overrides: Record<string, unknown> = { ...this.d.db.getSettings() };
    for (const pair of pairs) {
      const { key, value } = parseSetting(pair);
      overrides[key] = value;
    }
    this.buildConfig(overrides as Overrides, this.configVersion(), this.d.nowMs()); // throws when invalid
    this.d.db.replaceSettings(overrides);
    await this.serialised(() => this.refreshCrlAndConfig());
    this.d.log.info({ settings: pairs }, 'network config changed');
    return this.configView();
  }

  // ---- maintenance -------------------------------------------------------------

  /** Purges nodes whose certificates expired past the grace period and refreshes the CRL. */
  async maintain(): Promise<{ purged: string[] }> {
    this.flushHeartbeats();
    const nowMs = this.d.nowMs();
    const purged = this.d.db.transaction(() => {
      const prefixes = this.d.db.expiredPrefixes(nowMs - this.graceMs);
      for (const p of prefixes) this.d.db.deleteNode(p);
      return prefixes;
    });
    if (purged.length > 0) {
      this.candidates = undefined;
      this.d.log.info({ prefixes: purged }, 'expired nodes purged; prefixes returned to the pool');
    }
    await this.serialised(() => this.refreshCrlAndConfig());
    return { purged };
  }

  private serialised<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.updates.then(fn, fn);
    this.updates = next.catch(() => undefined);
    return next;
  }

  private buildConfig(overrides: Overrides, version: number, nowMs: number): NetworkConfig {
    const urls = (overrides.registry_urls as string[] | undefined) ?? this.d.registryUrls;
    return buildNetworkConfig({
      networkPrefix: this.d.config.network.prefix,
      nodePrefixLength: this.nodeLength,
      overrides,
      registryUrls: urls,
      crlPem: this.crlPemText,
      revokedSerials: this.d.db.revokedCerts(nowMs - this.graceMs).map((c) => c.serial),
      version,
      issuedAtMs: nowMs,
    });
  }

  /** Re-signs the CRL when its content changed or it is half-way to nextUpdate, then the config. */
  private async refreshCrlAndConfig(): Promise<void> {
    const nowMs = this.d.nowMs();
    const revoked = this.d.db.revokedCerts(nowMs - this.graceMs);
    const serialsKey = revoked.map((c) => c.serial).join(',');
    const thisUpdateMs = Number(this.d.db.getMeta('crl_this_update_ms') ?? 0);
    const halfLifeMs = (this.d.config.certificates.crl_days * DAY_MS) / 2;
    if (!this.crlPemText || this.d.db.getMeta('crl_serials') !== serialsKey || nowMs - thisUpdateMs >= halfLifeMs) {
      this.crlPemText = await createCrl(this.d.ca, {
        entries: revoked.map((c) => ({ serial: c.serial, revokedAtMs: c.revokedAtMs ?? nowMs })),
        thisUpdateMs: nowMs - NOT_BEFORE_SKEW_MS,
        nextUpdateMs: nowMs + this.d.config.certificates.crl_days * DAY_MS,
      });
      this.d.db.transaction(() => {
        this.d.db.setMeta('crl_pem', this.crlPemText);
        this.d.db.setMeta('crl_serials', serialsKey);
        this.d.db.setMeta('crl_this_update_ms', String(nowMs));
      });
    }
    const prev = this.current;
    const candidate = this.buildConfig(this.d.db.getSettings() as Overrides, prev ? prev.config.version : 1, nowMs);
    if (prev && sameConfigContent(prev.config, candidate)) return;
    const config = { ...candidate, version: prev ? prev.config.version + 1 : 1 };
    const signed = signNetworkConfig(config, this.d.ca.keyObject);
    this.d.db.setMeta('network_config', JSON.stringify(signed));
    this.current = { config, signed };
    this.d.log.info({ version: config.version }, 'network config version published');
  }
}
