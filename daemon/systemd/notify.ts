// sd_notify(3) without native code. Node has no unix datagram sockets, so each
// message goes out through systemd's own `systemd-notify` binary. Measured with
// systemd 252 (Debian 12): systemd-notify puts its parent's PID (the daemon) in
// the credentials when it may (CAP_SYS_ADMIN), else its own, and then waits on a
// BARRIER=1 message until the manager has read the first one, so the sender is
// still alive when systemd looks up its cgroup (no race with its exit). The unit
// keeps CAP_SYS_ADMIN out of the bounding set, so the sender is systemd-notify's
// own PID and the unit needs NotifyAccess=all.
//
// NOTIFY_SOCKET and WATCHDOG_* are taken out of the environment at once: openvpn
// is built with libsystemd and would otherwise report READY=1 and MAINPID=<its
// own pid> to our unit. Without NOTIFY_SOCKET nothing is ever sent.
import { runFile, type RunFileResult } from '../sys/run-file.js';

/** What systemd told this process about itself, read once from the environment. */
export interface SystemdEnv {
  /** $NOTIFY_SOCKET, or undefined when not started by systemd with Type=notify. */
  notifySocket: string | undefined;
  /** From $WATCHDOG_USEC when the watchdog is meant for this process ($WATCHDOG_PID absent or ours). */
  watchdogMs: number | undefined;
}

/** Reads NOTIFY_SOCKET/WATCHDOG_USEC/WATCHDOG_PID and removes them from `env`, so no child inherits them. */
export function takeSystemdEnv(env: NodeJS.ProcessEnv, pid: number): SystemdEnv {
  const notifySocket = env.NOTIFY_SOCKET || undefined;
  const usec = Number(env.WATCHDOG_USEC);
  const forUs = env.WATCHDOG_PID === undefined || Number(env.WATCHDOG_PID) === pid;
  delete env.NOTIFY_SOCKET;
  delete env.WATCHDOG_USEC;
  delete env.WATCHDOG_PID;
  const watchdogMs = notifySocket && forUs && Number.isFinite(usec) && usec > 0 ? Math.round(usec / 1000) : undefined;
  return { notifySocket, watchdogMs };
}

/** One assignment per entry, e.g. { READY: '1', STATUS: 'running' }. */
export type NotifyMessage = Record<string, string>;

export type RunNotify = (file: string, args: string[]) => Promise<RunFileResult>;

export interface NotifierDeps {
  /** Runs a program (default: runFile with a 10 s timeout). */
  run?: RunNotify;
  /** Told once when sending fails (e.g. systemd-notify missing), and once when it works again. */
  onError?: (message: string) => void;
  onRecovered?: () => void;
}

/** Assignments as systemd-notify arguments: values on one line (a newline would start a new assignment). */
export function notifyArgs(message: NotifyMessage): string[] {
  return Object.entries(message).map(([k, v]) => `${k}=${v.replace(/[\r\n]+/g, ' ')}`);
}

/**
 * Sends notifications one systemd-notify at a time. What arrives while one is on
 * its way is merged into the next send (a later STATUS replaces an earlier one), so
 * a slow manager never piles up processes.
 */
export class Notifier {
  private pending: NotifyMessage | undefined;
  private sending: Promise<void> | undefined;
  private failing = false;
  private readonly run: RunNotify;

  constructor(private readonly socket: string | undefined, private readonly deps: NotifierDeps = {}) {
    this.run = deps.run ?? ((file, args) => runFile(file, args, { timeoutMs: 10_000 }));
  }

  get enabled(): boolean {
    return this.socket !== undefined;
  }

  send(message: NotifyMessage): void {
    if (this.socket === undefined) return;
    this.pending = { ...this.pending, ...message };
    this.sending ??= this.drain();
  }

  /** Resolves once everything sent so far has been handed to systemd-notify. */
  async flush(): Promise<void> {
    while (this.sending) await this.sending;
  }

  private async drain(): Promise<void> {
    while (this.pending) {
      const message = this.pending;
      this.pending = undefined;
      // `env` puts NOTIFY_SOCKET back for systemd-notify alone (the daemon's own environment no longer has it).
      const r = await this.run('env', [`NOTIFY_SOCKET=${this.socket}`, 'systemd-notify', ...notifyArgs(message)]);
      if (r.exitCode !== 0 && !this.failing) {
        this.failing = true;
        this.deps.onError?.(`systemd-notify ${notifyArgs(message).join(' ')} failed (${r.stderr.trim() || `exit ${r.exitCode}`})`);
      } else if (r.exitCode === 0 && this.failing) {
        this.failing = false;
        this.deps.onRecovered?.();
      }
    }
    this.sending = undefined;
  }
}
