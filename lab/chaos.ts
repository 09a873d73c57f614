// `resilnet lab scenario chaos`: a seeded sequence of faults on a running lab
// (partitions, daemon restarts, babeld/openvpn killed or frozen, the registry
// stopped, a daemon starved of CPU). After each heal it measures the time until
// every pair reaches again; the run fails when a recovery exceeds its bound, a
// daemon exits on its own, or a peer DB fails `PRAGMA integrity_check`.
import { setTimeout as delay } from 'node:timers/promises';
import type { ChaosFault, ChaosStep } from './chaos-plan.js';
import { describeFault, planChaos } from './chaos-plan.js';
import type { LabHandle } from './handle.js';
import type { DbCheck } from './peer-db.js';
import { checkPeerDbs } from './peer-db.js';
import { applyPartition } from './partition.js';
import { lastLines, signalProcess } from './procs.js';
import type { Recovery } from './recovery.js';
import { daemonsDown, measureRecovery, recoveryText } from './recovery.js';
import type { ScenarioResult } from './scenario-result.js';
import { check, judge, seconds } from './scenario-result.js';

type Log = (line: string) => void;

export interface ChaosOptions {
  seed: number;
  minutes: number;
  /** How long past its bound a recovery is still waited for, to measure it (default 60 s). */
  overrunMs?: number;
}

export interface ChaosRow {
  index: number;
  kind: ChaosFault['kind'];
  fault: string;
  boundMs: number;
  recoveredMs: number | null;
  ok: boolean;
  /** What was seen when it did not recover, or what the fault could not do. */
  note: string;
}

export interface DaemonExit {
  node: string;
  /** After which step it was found gone (0: before the first). */
  afterStep: number;
  logTail: string;
}

export interface ChaosResult extends ScenarioResult {
  seed: number;
  minutes: number;
  nodes: number;
  plan: string[];
  rows: ChaosRow[];
  daemonExits: DaemonExit[];
  peerDbs: DbCheck[];
  durationMs: number;
}

/** Freezes/kills one of the node's children by name; returns its pid, or null when none runs. */
async function childOf(lab: LabHandle, node: string, comm: string, index: number): Promise<{ pid: number; startTime: string } | null> {
  const kids = (await lab.children(node)).filter((c) => c.comm === comm).sort((a, b) => a.pid - b.pid);
  return kids.length === 0 ? null : (kids[index % kids.length] ?? null);
}

/** Puts the fault in force; resolves to its heal and a note on what was done. */
async function inject(lab: LabHandle, step: ChaosStep): Promise<{ heal: () => Promise<void>; note: string }> {
  const f = step.fault;
  switch (f.kind) {
    case 'partition': {
      const p = await applyPartition(lab.runner, lab.manifest.layout, f.partition, step.index);
      return { heal: () => p.heal(), note: `nft table ${p.plan.table} in ${p.plan.netns}` };
    }
    case 'daemon-restart': {
      if (f.signal === 'SIGKILL') await lab.killDaemon(f.node);
      else await lab.stopDaemon(f.node);
      return { heal: async () => void lab.startDaemon(f.node), note: '' };
    }
    case 'child-kill':
    case 'child-stop': {
      const child = await childOf(lab, f.node, f.child, step.index);
      if (!child) return { heal: async () => undefined, note: `no ${f.child} was running on ${f.node}` };
      signalProcess(child, f.kind === 'child-kill' ? 'SIGKILL' : 'SIGSTOP');
      const heal = async () => void (f.kind === 'child-stop' && signalProcess(child, 'SIGCONT'));
      return { heal, note: `pid ${child.pid}` };
    }
    case 'registry-restart':
      await lab.stopRegistry();
      return { heal: () => lab.startRegistry().then(() => undefined), note: '' };
    case 'daemon-stop': {
      const rec = lab.daemon(f.node);
      if (!rec || !signalProcess(rec, 'SIGSTOP')) return { heal: async () => undefined, note: `daemon of ${f.node} was not running` };
      return { heal: async () => void signalProcess(rec, 'SIGCONT'), note: `pid ${rec.pid}` };
    }
  }
}

/** Daemons gone without being asked: recorded with their last log lines, then started again so the run goes on. */
function collectExits(lab: LabHandle, afterStep: number, log: Log): DaemonExit[] {
  return daemonsDown(lab).map((node) => {
    const rec = lab.daemon(node);
    const logTail = rec ? lastLines(rec.log) : '(never started)';
    log(`chaos: the daemon of ${node} exited on its own (after step ${afterStep}): ${logTail}; starting it again`);
    lab.startDaemon(node);
    return { node, afterStep, logTail };
  });
}

export function renderChaosTable(rows: ChaosRow[]): string {
  const s = (ms: number | null) => (ms === null ? '-' : (ms / 1000).toFixed(1));
  const lines = ['  #  fault                                                      bound (s)  recovery (s)  result'];
  for (const r of rows) {
    lines.push(`${String(r.index).padStart(3)}  ${r.fault.padEnd(58)} ${s(r.boundMs).padStart(9)}  ${s(r.recoveredMs).padStart(12)}  ${r.ok ? 'ok' : `FAIL ${r.note}`}`);
  }
  return lines.join('\n');
}

export async function chaosScenario(lab: LabHandle, log: Log, options: ChaosOptions): Promise<ChaosResult> {
  const t0 = Date.now();
  const overrunMs = options.overrunMs ?? 60_000;
  const steps = planChaos({ seed: options.seed, minutes: options.minutes, nodes: lab.nodes.map((n) => n.name) });
  const plan = steps.map((s) => `${s.index}. ${describeFault(s.fault)} (bound ${s.boundMs / 1000} s)`);
  log(`chaos: seed ${options.seed}, ${options.minutes} min, ${lab.nodes.length} nodes: ${steps.length} faults`);
  for (const line of plan) log(`chaos:   ${line}`);
  const rows: ChaosRow[] = [];
  const exits: DaemonExit[] = collectExits(lab, 0, log);
  for (const step of steps) {
    const fault = describeFault(step.fault);
    log(`chaos: ${step.index}/${steps.length} ${fault}`);
    const { heal, note } = await inject(lab, step);
    try {
      // The fault's duration: a sleep by design, not a wait for a condition.
      await delay(step.fault.holdSec * 1000);
    } finally {
      await heal();
    }
    const healedAtMs = Date.now();
    const recovery: Recovery = await measureRecovery(lab, { healedAtMs, boundMs: step.boundMs, capMs: step.boundMs + overrunMs });
    const text = recoveryText(recovery, step.boundMs + overrunMs);
    log(`chaos: ${step.index}/${steps.length} healed: ${text}${note ? ` [${note}]` : ''}`);
    rows.push({
      index: step.index,
      kind: step.fault.kind,
      fault,
      boundMs: step.boundMs,
      recoveredMs: recovery.recoveredMs,
      ok: recovery.withinBound && recovery.daemonsDown.length === 0,
      note: recovery.withinBound ? note : text,
    });
    exits.push(...collectExits(lab, step.index, log));
  }
  const peerDbs = checkPeerDbs(lab.manifest.nodes);
  for (const d of peerDbs.filter((x) => !x.ok)) log(`chaos: peer DB of ${d.node} fails integrity_check: ${d.result}`);
  const table = renderChaosTable(rows);
  for (const line of table.split('\n')) log(line);
  const failed = rows.filter((r) => !r.ok).length;
  const badDbs = peerDbs.filter((d) => !d.ok).length;
  const { ok, failures } = judge([
    ...rows.map((r) => check(r.ok, `step ${r.index} (${r.fault}) recovered within ${seconds(r.boundMs)}`, r.note)),
    ...exits.map((e) => check(false, `the daemon of ${e.node} running`, `it exited on its own after step ${e.afterStep}: ${e.logTail}`)),
    ...peerDbs.map((d) => check(d.ok, `peer DB of ${d.node} passing integrity_check`, d.result)),
  ]);
  const summary = `chaos (seed ${options.seed}): ${rows.length - failed}/${rows.length} faults recovered within their bound, ${exits.length} daemon exits, ${peerDbs.length - badDbs}/${peerDbs.length} peer DBs pass integrity_check`;
  log(summary);
  return {
    name: 'chaos',
    ok,
    failures,
    summary,
    seed: options.seed,
    minutes: options.minutes,
    nodes: lab.nodes.length,
    plan,
    rows,
    daemonExits: exits,
    peerDbs,
    durationMs: Date.now() - t0,
  };
}
