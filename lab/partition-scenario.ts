// Partitions that must heal: one node's underlay cut completely, or the
// network split into two halves, for a while; then healed. Measured: whether
// the parts that can still talk kept (or found) their paths during the cut,
// which peers the nodes had marked dead by the heal, and the time from the heal
// until every pair reaches again (bound: 30 s, the issue's promise).
import { setTimeout as delay } from 'node:timers/promises';
import type { LabError } from './errors.js';
import type { LabHandle } from './handle.js';
import type { Partition } from './partition.js';
import { applyPartition, describePartition, halves } from './partition.js';
import { deadPeers } from './peer-db.js';
import type { Recovery } from './recovery.js';
import { measureRecovery, recoveryText } from './recovery.js';
import type { ScenarioResult } from './scenario-result.js';
import { check, judge, seconds } from './scenario-result.js';

type Log = (line: string) => void;

/** How long before the heal the nodes' dead-peer lists are read. */
const DEAD_READ_LEAD_MS = 2_000;

export interface PartitionOptions {
  /** How long the partition lasts (the issue: 300 s). */
  cutSeconds: number;
  /** All pairs must reach within this long after the heal (default 30 s). */
  boundMs?: number;
  /** How long after the heal to keep measuring when the bound is missed (default: bound + 90 s). */
  capMs?: number;
}

export interface PartitionResult extends ScenarioResult {
  partition: Partition;
  cutMs: number;
  /** Each side that can still talk internally, and when (ms after the cut) it all reached; null: not during the cut. */
  sides: Array<{ nodes: string[]; reachedMs: number | null }>;
  /** Per node: the peers it listed as dead in the cut's last seconds, with reasons. */
  deadAtHeal: Record<string, string[]>;
  recovery: Recovery;
}

function deadPeersByNode(lab: LabHandle): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const n of lab.nodes) {
    try {
      out[n.name] = deadPeers(n).map((p) => `${lab.nameOf(p.prefix)}: ${p.reason ?? '?'}`);
    } catch (err) {
      out[n.name] = [`(cannot read its peer DB: ${(err as Error).message})`];
    }
  }
  return out;
}

export async function partitionScenario(lab: LabHandle, log: Log, partition: Partition, options: PartitionOptions): Promise<PartitionResult> {
  const boundMs = options.boundMs ?? 30_000;
  const capMs = options.capMs ?? boundMs + 90_000;
  const cutMs = options.cutSeconds * 1000;
  const what = describePartition(partition);
  const all = lab.nodes.map((n) => n.name);
  const sideNodes =
    partition.kind === 'isolate' ? [all.filter((n) => n !== partition.node)] : partition.kind === 'split' ? [partition.left, partition.right] : [all];
  await lab.awaitAllPairs({ timeoutMs: 120_000 });
  const active = await applyPartition(lab.runner, lab.manifest.layout, partition, 1);
  const cutAtMs = Date.now();
  log(`partition: ${what} for ${options.cutSeconds} s (nft table ${active.plan.table} in ${active.plan.netns})`);
  let sides: PartitionResult['sides'];
  let deadAtHeal: Record<string, string[]>;
  try {
    // While cut, each side that can still talk must reach internally (a side of one node trivially does).
    sides = [];
    for (const nodes of sideNodes) {
      if (nodes.length < 2) continue;
      let reachedMs: number | null = null;
      try {
        await lab.awaitAllPairs({ timeoutMs: Math.max(1_000, cutAtMs + cutMs - 2_000 - Date.now()), nodes });
        reachedMs = Date.now() - cutAtMs;
      } catch (err) {
        if ((err as LabError).code !== 'RN_LAB_UNREACHABLE') throw err;
      }
      sides.push({ nodes, reachedMs });
      log(`partition: side ${nodes.join(',')} ${reachedMs === null ? 'did NOT reach all its own pairs during the cut' : `reaches all its own pairs (${seconds(reachedMs)} into the cut)`}`);
    }
    // The partition's length: a sleep by design. What the nodes list as dead is
    // read from their peer DBs a few seconds before the heal.
    const endAtMs = cutAtMs + cutMs;
    await delay(Math.max(0, endAtMs - DEAD_READ_LEAD_MS - Date.now()));
    deadAtHeal = deadPeersByNode(lab);
    await delay(Math.max(0, endAtMs - Date.now()));
  } finally {
    await active.heal();
  }
  const healedAtMs = Date.now();
  for (const [node, dead] of Object.entries(deadAtHeal)) if (dead.length > 0) log(`partition: just before the heal ${node} listed dead: ${dead.join('; ')}`);
  log(`partition: healed after ${seconds(healedAtMs - cutAtMs)}; waiting for all pairs`);
  const recovery = await measureRecovery(lab, { healedAtMs, boundMs, capMs });
  const text = recoveryText(recovery, capMs);
  const { ok, failures } = judge([
    check(recovery.withinBound, `all pairs reaching within ${seconds(boundMs)} of the heal`, text),
    check(recovery.daemonsDown.length === 0, 'every daemon running', `down: ${recovery.daemonsDown.join(', ') || 'none'}`),
    ...sides.map((s) =>
      check(s.reachedMs !== null, `nodes ${s.nodes.join(',')} reaching each other during the cut`, s.reachedMs === null ? 'not all their pairs reached before the heal' : seconds(s.reachedMs)),
    ),
  ]);
  const summary = `${partition.kind === 'split' ? 'partition-halves' : partition.kind === 'isolate' ? 'partition-node' : 'partition-cut'}: ${what} for ${seconds(healedAtMs - cutAtMs)}; ${text}`;
  log(summary);
  return { name: summary.split(':')[0] as string, ok, summary, failures, partition, cutMs: healedAtMs - cutAtMs, sides, deadAtHeal, recovery };
}

/** The isolate case on a given node. */
export function partitionNodeScenario(lab: LabHandle, log: Log, node: string, options: PartitionOptions): Promise<PartitionResult> {
  return partitionScenario(lab, log, { kind: 'isolate', node }, options);
}

/** The split case: the first half of the nodes against the rest. */
export function partitionHalvesScenario(lab: LabHandle, log: Log, options: PartitionOptions): Promise<PartitionResult> {
  return partitionScenario(lab, log, { kind: 'split', ...halves(lab.nodes.map((n) => n.name)) }, options);
}
