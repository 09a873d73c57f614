// `resilnet daemon`: builds the node's components by hand, starts the node,
// turns signals into actions (SIGHUP: reload; SIGTERM/SIGINT: clean stop) and
// tells systemd how it goes (readiness, status, watchdog) when started by it.
// The only daemon module that touches process signals and the environment.
import { pino, type Logger } from 'pino';
import * as z from 'zod';
import { ResilnetError } from '../config/errors.js';
import { loadNodeConfig } from '../config/node-config.js';
import { chooseLogFormat, logDestination, type LogStream } from './log/destination.js';
import { Node, type NodeComponents } from './node.js';
import { realSpawner } from './sys/spawner.js';
import type { LogLevel } from './settings.js';
import { systemClock } from './sys/clock.js';
import { Notifier, takeSystemdEnv, type NotifierDeps } from './systemd/notify.js';
import { SystemdReporter } from './systemd/reporter.js';

export type { LogLevel };

export interface DaemonRunOptions {
  configPath: string;
  /** Overrides node.log_level from the file. */
  logLevel?: LogLevel;
  /** The process environment (default process.env): NOTIFY_SOCKET and WATCHDOG_* are taken out of it. */
  env?: NodeJS.ProcessEnv;
  /** How systemd-notify is run (tests). */
  notify?: NotifierDeps['run'];
}

export interface DaemonIo {
  /** The log: JSON lines, human lines on a terminal, `<N>`-prefixed lines under journald. */
  stdout: LogStream;
  stderr: { write(chunk: string): unknown };
}

/** Process signals, injected so the wiring can be driven in tests. */
export interface SignalSource {
  on(signal: 'SIGHUP' | 'SIGTERM' | 'SIGINT', handler: () => void): void;
  off(signal: 'SIGHUP' | 'SIGTERM' | 'SIGINT', handler: () => void): void;
}

export function createLogger(level: LogLevel, io: DaemonIo, env: NodeJS.ProcessEnv = process.env): Logger {
  return pino(
    { level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime },
    logDestination(chooseLogFormat(env, io.stdout), io.stdout, env),
  );
}

export function buildComponents(log: Logger): NodeComponents {
  return { clock: systemClock, spawner: realSpawner, log };
}

/** Runs the daemon until SIGTERM/SIGINT; resolves with the exit code. */
export async function runDaemon(options: DaemonRunOptions, io: DaemonIo, signals: SignalSource = process): Promise<number> {
  const env = options.env ?? process.env;
  // First, before any child can be spawned with them in its environment.
  const systemd = takeSystemdEnv(env, process.pid);
  // A daemon parses with each schema a few times (config at start and reload, registry
  // answers once a minute): zod's generated fast path costs more to build than it saves
  // (the first node config parse 26 → 20 ms of CPU, docs/benchmarks.md "Start-up (issue 9, session 6)").
  z.config({ jitless: true });
  const config = loadNodeConfig(options.configPath);
  const log = createLogger(options.logLevel ?? config.node.log_level, io, env);
  const notifier = new Notifier(systemd.notifySocket, {
    ...(options.notify ? { run: options.notify } : {}),
    onError: (message) => log.warn({ notifySocket: systemd.notifySocket }, `cannot notify systemd: ${message}; readiness and watchdog pings are not getting through`),
    onRecovered: () => log.info('systemd notifications get through again'),
  });
  const node = new Node(config, buildComponents(log), { logLevelOverride: options.logLevel });
  const reporter = new SystemdReporter({ clock: systemClock, log, notifier, status: () => node.status(), watchdogMs: systemd.watchdogMs });
  if (notifier.enabled) log.info({ watchdogMs: systemd.watchdogMs ?? null }, 'started by systemd: reporting readiness and status');
  reporter.begin('starting: control socket, network config, babeld, tunnels');

  let stopping: Promise<void> | undefined;
  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((r) => (resolveDone = r));

  const onStop = (): void => {
    if (stopping) return;
    log.info('stopping (signal)');
    reporter.stopping();
    stopping = node
      .stop()
      .then(() => resolveDone(0))
      .catch((err: unknown) => {
        log.error({ err }, 'stop failed');
        resolveDone(1);
      });
  };
  const onHup = (): void => {
    node.reload().catch((err: unknown) => log.warn({ err }, 'reload failed; the old config stays in effect'));
  };
  signals.on('SIGTERM', onStop);
  signals.on('SIGINT', onStop);
  signals.on('SIGHUP', onHup);
  try {
    try {
      await node.start();
    } catch (err) {
      log.error({ err }, 'daemon failed to start');
      reporter.status(`failed to start: ${(err as Error)?.message ?? String(err)}`);
      // Undo whatever part of the start succeeded, so a failed start leaves nothing behind.
      await node.stop().catch((e: unknown) => log.error({ err: e }, 'cleanup after failed start failed'));
      if (err instanceof ResilnetError) throw err;
      throw new ResilnetError('RN_DAEMON_START_FAILED', `the daemon failed to start (${(err as Error)?.message ?? String(err)})`, { cause: err });
    }
    if (stopping === undefined) {
      log.info({ prefix: node.prefix }, 'daemon running');
      reporter.started();
    }
    return await done;
  } finally {
    reporter.stopping();
    await notifier.flush();
    signals.off('SIGTERM', onStop);
    signals.off('SIGINT', onStop);
    signals.off('SIGHUP', onHup);
  }
}
