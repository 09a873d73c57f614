// What the children say goes into the daemon's log: every openvpn and babeld
// line at info, the ones that read as warnings or errors at those levels, and
// when a child exits unasked its last lines again at error, so that the cause
// of a crash loop is in the journal at the default level (and under
// `journalctl -p err`) right where the health item points.
import type { Logger } from 'pino';
import type { Supervisor } from './supervisor.js';

/** Lines kept per child for the crash report. */
export const LAST_LINES = 10;

export type ChildLineLevel = 'debug' | 'info' | 'warn' | 'error';

// openvpn: "Options error: …", "ERROR: Cannot open TUN/TAP dev …", "Exiting due to fatal error";
// babeld: fatal set-up failures. Matched at the start so that a peer's error relayed in a
// longer line does not count as ours.
const ERROR = /^(options error|error\b|fatal\b)|exiting due to fatal error|\bfatal error\b/i;
// "WARNING: …", "TLS Error: …", "VERIFY ERROR: …", "Couldn't …", "… failed", "DEPRECATED OPTION".
const WARN = /warning|\berror\b|\bfail(ed|ure)?\b|deprecated|couldn'?t|cannot|can't|refused|denied|unable/i;

// Lines a busy network repeats many times a minute and that say nothing an operator acts on:
// babeld's late hellos on a loaded host (602 in 10 min on one node of a 64-node lab, each a
// log write on a starved machine), openvpn's CRL reload and script-security note at every
// session. At debug; still kept for a crash report.
const ROUTINE = /^Late hello: bufferbloated neighbor|^CRL: loaded \d+ CRLs? from file|^NOTE: the current --script-security setting/;

/** The level a child's output line is logged at. Pure. */
export function childLineLevel(line: string): ChildLineLevel {
  if (ROUTINE.test(line)) return 'debug';
  if (ERROR.test(line)) return 'error';
  if (WARN.test(line)) return 'warn';
  return 'info';
}

interface Run {
  name: string;
  lines: string[];
  /** The output ended (late lines after the exit are in). */
  ended: boolean;
  exited: boolean;
  /** How it ended, when it exited unasked: reported once its output is over too. */
  crash?: string;
}

/** Logs every child's output through `log` from now on; returns the unsubscribe function. */
export function logChildOutput(supervisor: Pick<Supervisor, 'on' | 'onOutput'>, log: Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>): () => void {
  const runs = new Map<number, Run>();
  const run = (name: string, pid: number): Run => {
    let r = runs.get(pid);
    if (!r) runs.set(pid, (r = { name, lines: [], ended: false, exited: false }));
    return r;
  };
  /** Once a run has both exited and ended its output: the crash report, if any, and forget it. */
  const settle = (pid: number, r: Run): void => {
    if (!r.exited || !r.ended) return;
    runs.delete(pid);
    if (r.crash === undefined) return;
    const n = r.lines.length;
    log.error({ child: r.name, childPid: pid }, `${r.name} ${r.crash}${n ? `; its last ${n} line${n === 1 ? '' : 's'} follow` : ', and printed nothing'}`);
    for (const line of r.lines) log.error({ child: r.name, childPid: pid }, `${r.name}| ${line}`);
  };
  const offOutput = supervisor.onOutput({
    line(name, line, pid) {
      if (line.trim() === '') return;
      log[childLineLevel(line)]({ child: name, childPid: pid }, line);
      const lines = run(name, pid).lines;
      lines.push(line);
      if (lines.length > LAST_LINES) lines.shift();
    },
    end(name, pid) {
      const r = run(name, pid);
      r.ended = true;
      settle(pid, r);
    },
  });
  const offEvents = supervisor.on((ev) => {
    if (ev.kind !== 'child-exited') return;
    if (ev.pid === null) {
      // It never ran: nothing it printed, only why it could not start.
      if (ev.restartInMs !== null) log.error({ child: ev.name }, `${ev.name} could not start: ${ev.spawnError ?? 'unknown reason'}`);
      return;
    }
    const r = run(ev.name, ev.pid);
    r.exited = true;
    // Stopped by the daemon (restartInMs null) or restarted at its request: nothing to report.
    if (ev.restartInMs !== null && !ev.asked) r.crash = `${ev.signal ? `was killed by ${ev.signal}` : `exited with code ${ev.code}`} unasked`;
    settle(ev.pid, r);
  });
  return () => {
    offOutput();
    offEvents();
  };
}
