// Node-level network setup as data: the node address on lo, an unreachable route
// for the whole overlay (so overlay traffic never leaks to the underlay) and IPv6
// forwarding. planNode* are pure; runIp/applyCommands run the argv lists.
import { ResilnetError } from '../../config/errors.js';
import { nodeAddress, parsePrefix, formatPrefix } from '../../config/ipv6.js';
import { retryTimeouts, runFile, type RetryOptions } from './run-file.js';

/** A full argv: argv[0] is `ip` or `sysctl`. */
export type SysCommand = string[];

export interface NodeNetSpec {
  /** This node's prefix, canonical CIDR text (e.g. fd5e:1:2:7::/64). */
  prefix: string;
  /** The whole overlay network (e.g. fd5e:1::/48). */
  networkPrefix: string;
}

/**
 * Setup commands, idempotent (`replace`). The node address goes on lo with the
 * prefix's own length, so the kernel route `PREFIX dev lo proto kernel` exists and
 * babeld's `redistribute ip PREFIX eq LEN` announces it (REPORT.md §3).
 */
export function planNodeSetup(spec: NodeNetSpec): SysCommand[] {
  const own = parsePrefix(spec.prefix);
  const net = formatPrefix(parsePrefix(spec.networkPrefix));
  return [
    ['sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1'],
    ['ip', 'link', 'set', 'dev', 'lo', 'up'],
    ['ip', '-6', 'addr', 'replace', `${nodeAddress(own)}/${own.length}`, 'dev', 'lo'],
    ['ip', '-6', 'route', 'replace', 'unreachable', net],
  ];
}

/** Reverse of planNodeSetup (forwarding is left as is: other software may rely on it). */
export function planNodeTeardown(spec: NodeNetSpec): SysCommand[] {
  const own = parsePrefix(spec.prefix);
  const net = formatPrefix(parsePrefix(spec.networkPrefix));
  return [
    ['ip', '-6', 'route', 'del', 'unreachable', net],
    ['ip', '-6', 'addr', 'del', `${nodeAddress(own)}/${own.length}`, 'dev', 'lo'],
  ];
}

/** Removes a tunnel interface that outlived its openvpn (normally the kernel does it). */
export function planTunnelTeardown(ifName: string): SysCommand[] {
  return [['ip', 'link', 'del', 'dev', ifName]];
}

export interface RunResult {
  argv: SysCommand;
  exitCode: number;
  stderr: string;
  /** It ran past its timeout (retried by applyCommands). */
  timedOut?: boolean;
}

/** First timeout of one ip/sysctl run; retries get longer ones. */
export const IP_TIMEOUT_MS = 10_000;

/** Runs one command (no shell). Never throws; the caller decides what a failure means. */
export async function runIp(argv: SysCommand, options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<RunResult> {
  const [file, ...args] = argv;
  if (file !== 'ip' && file !== 'sysctl') {
    return { argv, exitCode: -1, stderr: `refused: only ip and sysctl are run here (got ${String(file)})` };
  }
  const r = await runFile(file, args, { timeoutMs: options.timeoutMs ?? IP_TIMEOUT_MS, ...(options.signal ? { signal: options.signal } : {}) });
  return { argv, exitCode: r.exitCode, stderr: r.stderr, timedOut: r.timedOut };
}

/** True for the errors a teardown expects when the object is already gone. */
export function isAlreadyGone(stderr: string): boolean {
  return /No such process|Cannot find device|does not exist|Cannot assign requested address|No such file or directory/i.test(stderr);
}

export interface ApplyOptions {
  bestEffort?: boolean;
  run?: (argv: SysCommand, options: { timeoutMs: number }) => Promise<RunResult>;
  /**
   * A run that timed out is run again (a slow host is not a failed command): by default
   * 5 tries for setup, 2 for teardown, with backoff and longer timeouts; `onRetry` reports each.
   */
  retry?: Partial<RetryOptions<RunResult>>;
}

/**
 * Runs commands in order. Setup stops at the first failure with RN_SYS_COMMAND_FAILED
 * (RN_SYS_COMMAND_TIMEOUT when every try timed out); teardown (`bestEffort`) runs
 * everything, ignores "already gone" and returns the rest.
 */
export async function applyCommands(commands: SysCommand[], options: ApplyOptions = {}): Promise<RunResult[]> {
  const run = options.run ?? ((argv, o) => runIp(argv, { ...o, ...(options.retry?.signal ? { signal: options.retry.signal } : {}) }));
  const failures: RunResult[] = [];
  const attempts = options.retry?.attempts ?? (options.bestEffort ? 2 : 5);
  for (const argv of commands) {
    const r = await retryTimeouts((timeoutMs) => run(argv, { timeoutMs }), IP_TIMEOUT_MS, { maxTimeoutMs: 4 * IP_TIMEOUT_MS, ...options.retry, attempts });
    if (r.exitCode === 0) continue;
    if (options.bestEffort) {
      if (!isAlreadyGone(r.stderr)) failures.push(r);
      continue;
    }
    if (r.timedOut) {
      throw new ResilnetError('RN_SYS_COMMAND_TIMEOUT', `network setup did not finish: ${argv.join(' ')} timed out ${attempts} times. The host is overloaded or ${argv[0]} hangs; start the daemon again when it is not.`, {
        details: { argv, attempts },
      });
    }
    throw new ResilnetError('RN_SYS_COMMAND_FAILED', `network setup failed: ${argv.join(' ')} (${r.stderr.trim() || `exit ${r.exitCode}`}). Check that the daemon runs as root.`, {
      details: { argv, exitCode: r.exitCode },
    });
  }
  return failures;
}
