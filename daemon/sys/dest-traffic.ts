// Bytes per overlay address that this node sends and receives (its own traffic
// and what it forwards), counted by the kernel in an nftables table the daemon
// owns: two dynamic sets keyed by the far address, one element per address with
// its own counter, filled from the postrouting (sent: daddr) and prerouting
// (received: saddr) hooks for packets inside the overlay prefix. The sets are
// bounded and idle elements expire, so a busy network cannot grow them without
// limit. The ruleset text and the `nft -j` parser are pure; the meter below runs
// /usr/sbin/nft (never a bare `nft`: node_modules/.bin holds an unrelated one).
import { retryTimeouts, runFile } from './run-file.js';
import type { Logger } from 'pino';
import type { HealthRegistry } from '../health/health.js';
import { backoffDelayMs } from './backoff.js';
import { ResilnetError } from '../../config/errors.js';
import { canonicalPrefix, formatIpv6Address, parseIpv6Address } from '../../config/ipv6.js';
import type { Cancel, Clock } from './clock.js';
import { updateDestinationRates, type DestinationRate, type DestinationRateState } from '../tunnels/dest-rates.js';

export const NFT_PATH = '/usr/sbin/nft';
/** The daemon's own table (family ip6); no other table is ever touched. */
export const DEST_TRAFFIC_TABLE = 'resilnet';
const TX_SET = 'dest_tx';
const RX_SET = 'dest_rx';

export interface DestTrafficSpec {
  /** The whole overlay (network config network_prefix). */
  networkPrefix: string;
  table?: string;
  /** Most addresses each set holds; beyond that new addresses are not counted until others expire. */
  maxAddresses?: number;
  /** An address not seen for this long leaves the set (its counter with it). */
  idleTimeoutSec?: number;
}

export interface AddressCounters {
  /** Bytes received from the address (prerouting, saddr). */
  rxBytes: number;
  /** Bytes sent to the address (postrouting, daddr). */
  txBytes: number;
}

/**
 * The `nft -f` script that creates (or atomically replaces, after a crash) the
 * table. Declaring the table first makes the delete succeed when it is absent.
 */
export function destTrafficRuleset(spec: DestTrafficSpec): string {
  const table = checkName(spec.table ?? DEST_TRAFFIC_TABLE);
  const net = canonicalPrefix(spec.networkPrefix);
  const size = Math.max(1, Math.floor(spec.maxAddresses ?? 4096));
  const timeoutSec = Math.max(1, Math.floor(spec.idleTimeoutSec ?? 600));
  const set = (name: string): string =>
    `  set ${name} {\n    type ipv6_addr\n    size ${size}\n    flags dynamic,timeout\n    timeout ${timeoutSec}s\n  }\n`;
  return [
    `table ip6 ${table} {}`,
    `delete table ip6 ${table}`,
    `table ip6 ${table} {`,
    set(TX_SET) + set(RX_SET) +
      `  chain sent {\n    type filter hook postrouting priority filter; policy accept;\n    ip6 daddr ${net} update @${TX_SET} { ip6 daddr counter }\n  }\n` +
      `  chain received {\n    type filter hook prerouting priority filter; policy accept;\n    ip6 saddr ${net} update @${RX_SET} { ip6 saddr counter }\n  }`,
    '}',
    '',
  ].join('\n');
}

/** Table names go into nft scripts: keep them to plain identifiers. */
function checkName(name: string): string {
  if (!/^[A-Za-z][A-Za-z0-9_]{0,31}$/.test(name)) throw new ResilnetError('RN_SYS_NFT_FAILED', `invalid nftables table name "${name}". Use letters, digits and _.`);
  return name;
}

/**
 * Per-address counters from `nft -j list table ip6 TABLE`. Elements without a
 * counter or with an address that does not parse are skipped; only text that is
 * not nft JSON at all is an error (RN_SYS_NFT_PARSE).
 */
export function parseNftCounters(jsonText: string, table = DEST_TRAFFIC_TABLE): Map<string, AddressCounters> {
  let doc: unknown;
  try {
    doc = JSON.parse(jsonText);
  } catch (err) {
    throw new ResilnetError('RN_SYS_NFT_PARSE', `cannot parse nft JSON output (${(err as Error).message}). Check that ${NFT_PATH} is nftables ≥ 0.9 with JSON support.`, { cause: err });
  }
  const items = (doc as { nftables?: unknown } | null)?.nftables;
  if (!Array.isArray(items)) throw new ResilnetError('RN_SYS_NFT_PARSE', 'nft JSON output has no "nftables" array. Check the nftables version.');
  const out = new Map<string, AddressCounters>();
  for (const item of items) {
    const set = (item as { set?: unknown } | null)?.set as { family?: unknown; table?: unknown; name?: unknown; elem?: unknown } | undefined;
    if (!set || set.family !== 'ip6' || set.table !== table || (set.name !== TX_SET && set.name !== RX_SET)) continue;
    if (!Array.isArray(set.elem)) continue;
    const field: keyof AddressCounters = set.name === TX_SET ? 'txBytes' : 'rxBytes';
    for (const e of set.elem) {
      // A counted element is {"elem": {"val": ADDR, "counter": {...}}}; a bare string has no counter.
      const inner = (e as { elem?: unknown } | null)?.elem as { val?: unknown; counter?: unknown } | undefined;
      const bytes = (inner?.counter as { bytes?: unknown } | null | undefined)?.bytes;
      if (typeof inner?.val !== 'string' || typeof bytes !== 'number' || !Number.isFinite(bytes) || bytes < 0) continue;
      let address: string;
      try {
        address = formatIpv6Address(parseIpv6Address(inner.val));
      } catch {
        continue;
      }
      const entry = out.get(address) ?? { rxBytes: 0, txBytes: 0 };
      entry[field] += bytes;
      out.set(address, entry);
    }
  }
  return out;
}

export interface NftResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** Killed after its timeout: nft was slow, not wrong. */
  timedOut?: boolean;
}

/** Runs /usr/sbin/nft with args (and stdin); never throws. A seam for tests. */
export type NftRunner = (args: string[], input?: string, timeoutMs?: number) => Promise<NftResult>;

const NFT_TIMEOUT_MS = 10_000;

export const runNft: NftRunner = (args, input, timeoutMs = NFT_TIMEOUT_MS) => runFile(NFT_PATH, args, { timeoutMs, ...(input === undefined ? {} : { input }) });

/** Health item while creating the table keeps timing out (a warning; retried with backoff). */
export const NFT_SLOW = 'RN_SYS_NFT_SLOW';
const CREATE_RETRY = { firstMs: 2_000, maxMs: 60_000 };

export interface DestTrafficDeps {
  clock: Clock;
  log: Logger;
  run?: NftRunner;
  health?: Pick<HealthRegistry, 'raise' | 'clear'>;
  /** EWMA time constant (default: score.ts's). */
  tauMs?: number;
}

/**
 * The daemon's per-destination meter: creates the table at start, folds each
 * reading into per-prefix rates (dest-rates.ts), removes the table at stop.
 * Without nftables the daemon runs on without it (rates stay empty).
 */
export class DestinationTrafficMeter {
  private state: DestinationRateState | undefined;
  private active = false;
  /** A create was sent that may have been carried out (it timed out): stop deletes the table anyway. */
  private maybeCreated = false;
  private createFailures = 0;
  private cancelRetry: Cancel | undefined;
  private stopped = false;
  private readonly table: string;
  private readonly run: NftRunner;

  constructor(
    private readonly spec: DestTrafficSpec,
    private readonly deps: DestTrafficDeps,
  ) {
    this.table = checkName(spec.table ?? DEST_TRAFFIC_TABLE);
    this.run = deps.run ?? runNft;
  }

  /**
   * Creates the table; throws RN_SYS_NFT_FAILED when nft refuses (the caller decides whether that
   * is fatal). When nft only times out, start resolves and the create is retried with backoff
   * (health item RN_SYS_NFT_SLOW meanwhile); the meter measures from its first success on.
   */
  async start(): Promise<void> {
    const r = await this.create();
    if (r.timedOut) return this.retryCreate(r);
    if (r.exitCode !== 0) throw this.createError(r);
  }

  private async create(): Promise<NftResult> {
    const r = await this.run(['-f', '-'], destTrafficRuleset({ ...this.spec, table: this.table }));
    this.maybeCreated ||= r.timedOut === true || r.exitCode === 0;
    if (r.exitCode === 0 && !this.stopped) {
      this.active = true;
      this.createFailures = 0;
      this.deps.health?.clear(NFT_SLOW);
    }
    return r;
  }

  private createError(r: NftResult): ResilnetError {
    return new ResilnetError('RN_SYS_NFT_FAILED', `cannot create the nftables table ip6 ${this.table} (${r.stderr.trim() || `exit ${r.exitCode}`}). Per-destination traffic is not measured; install nftables or check the kernel's nf_tables support.`, {
      details: { exitCode: r.exitCode },
    });
  }

  private retryCreate(last: NftResult): void {
    if (this.stopped) return;
    this.createFailures++;
    const delayMs = backoffDelayMs(this.createFailures, CREATE_RETRY);
    const text = `nft did not create the table ip6 ${this.table} in time (${last.stderr.trim()}); retrying in ${Math.round(delayMs / 1000)} s. Per-destination traffic is measured once it succeeds.`;
    this.deps.log.warn({ failures: this.createFailures, delayMs }, 'nft is slow; retrying the traffic table');
    this.deps.health?.raise({ code: NFT_SLOW, title: 'nft is slow', severity: 'warning', text });
    this.cancelRetry = this.deps.clock.setTimeout(() => {
      this.cancelRetry = undefined;
      void this.create().then((r) => {
        if (r.timedOut) return this.retryCreate(r);
        if (r.exitCode !== 0) {
          const err = this.createError(r);
          this.deps.health?.clear(NFT_SLOW);
          this.deps.health?.raise({ code: err.code, title: 'per-destination traffic is not measured', severity: 'warning', text: err.message });
          this.deps.log.warn({ err }, 'cannot create the traffic table');
        }
      });
    }, delayMs);
  }

  get running(): boolean {
    return this.active;
  }

  /** Reads the counters and folds them into the rates of the given prefixes (peer prefixes, not our own). Never throws. */
  async sample(prefixes: readonly string[]): Promise<void> {
    if (!this.active) return;
    const r = await this.run(['-j', 'list', 'table', 'ip6', this.table]);
    if (r.timedOut) {
      // A slow host: the next sample reads the counters again (they keep counting).
      this.deps.log.debug({ stderr: r.stderr.trim() }, 'nft was slow to list the traffic counters; sample skipped');
      return;
    }
    if (r.exitCode !== 0) {
      this.deps.log.warn({ exitCode: r.exitCode, stderr: r.stderr.trim() }, 'cannot read the per-destination traffic counters');
      return;
    }
    try {
      const counters = parseNftCounters(r.stdout, this.table);
      this.state = updateDestinationRates(this.state, counters, prefixes, this.deps.clock.nowMs(), this.deps.tauMs);
    } catch (err) {
      this.deps.log.warn({ err }, 'per-destination traffic counters unreadable; sample skipped');
    }
  }

  /** Smoothed rates per destination prefix (only prefixes with traffic). */
  rates(): ReadonlyMap<string, DestinationRate> {
    return this.state?.rates ?? new Map();
  }

  /** Removes the table (nothing is left behind; a slow nft gets a second try). Never throws. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelRetry?.();
    this.cancelRetry = undefined;
    if (!this.active && !this.maybeCreated) return;
    this.active = false;
    this.maybeCreated = false;
    const r = await retryTimeouts((timeoutMs) => this.run(['delete', 'table', 'ip6', this.table], undefined, timeoutMs), NFT_TIMEOUT_MS, { attempts: 2, clock: this.deps.clock, backoff: { firstMs: 500, maxMs: 500 } });
    if (r.exitCode !== 0 && !/No such file or directory/i.test(r.stderr)) {
      this.deps.log.warn({ exitCode: r.exitCode, stderr: r.stderr.trim() }, `cannot delete the nftables table ip6 ${this.table}`);
    }
  }
}
