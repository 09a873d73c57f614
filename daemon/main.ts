// `resilnet daemon`: builds the node's components by hand, starts the node,
// and turns signals into actions (SIGHUP: reload; SIGTERM/SIGINT: clean stop).
// The only daemon module that touches process signals.
import { pino, type Logger } from 'pino';
import { ResilnetError } from '../config/errors.js';
import { loadNodeConfig } from '../config/node-config.js';
import { Node, type NodeComponents } from './node.js';
import { realSpawner } from './sys/spawner.js';
import type { LogLevel } from './settings.js';
import { systemClock } from './sys/clock.js';

export type { LogLevel };

export interface DaemonRunOptions {
  configPath: string;
  /** Overrides node.log_level from the file. */
  logLevel?: LogLevel;
}

export interface DaemonIo {
  stdout: { write(chunk: string): unknown };
  stderr: { write(chunk: string): unknown };
}

/** Process signals, injected so the wiring can be driven in tests. */
export interface SignalSource {
  on(signal: 'SIGHUP' | 'SIGTERM' | 'SIGINT', handler: () => void): void;
  off(signal: 'SIGHUP' | 'SIGTERM' | 'SIGINT', handler: () => void): void;
}

export function createLogger(level: LogLevel, io: DaemonIo): Logger {
  return pino(
    { level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime },
    { write: (s: string) => io.stdout.write(s) },
  );
}

export function buildComponents(log: Logger): NodeComponents {
  return { clock: systemClock, spawner: realSpawner, log };
}

/** Runs the daemon until SIGTERM/SIGINT; resolves with the exit code. */
export async function runDaemon(options: DaemonRunOptions, io: DaemonIo, signals: SignalSource = process): Promise<number> {
  const config = loadNodeConfig(options.configPath);
  const log = createLogger(options.logLevel ?? config.node.log_level, io);
  const node = new Node(config, buildComponents(log), { logLevelOverride: options.logLevel });

  let stopping: Promise<void> | undefined;
  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((r) => (resolveDone = r));

  const onStop = (): void => {
    if (stopping) return;
    log.info('stopping (signal)');
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
      // Undo whatever part of the start succeeded, so a failed start leaves nothing behind.
      await node.stop().catch((e: unknown) => log.error({ err: e }, 'cleanup after failed start failed'));
      if (err instanceof ResilnetError) throw err;
      throw new ResilnetError('RN_DAEMON_START_FAILED', `the daemon failed to start (${(err as Error)?.message ?? String(err)})`, { cause: err });
    }
    if (stopping === undefined) log.info({ prefix: node.prefix }, 'daemon running');
    return await done;
  } finally {
    signals.off('SIGTERM', onStop);
    signals.off('SIGINT', onStop);
    signals.off('SIGHUP', onHup);
  }
}
