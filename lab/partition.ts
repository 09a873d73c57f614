// Silent underlay partitions, made with nftables inside the lab's own
// namespaces: a cut between two nodes and a split into two halves drop packets
// on the "internet" bridge (nobody sees an error, packets just vanish); an
// isolated node drops all its non-loopback traffic, both directions, inside its
// own namespace. Each fault is one nft table named rnfault_<lab>_<n>, so healing
// deletes that table, and deleting the namespaces at `lab down` takes any
// leftover along. Planning is pure; apply/heal run the steps.
import { LabError } from './errors.js';
import type { CommandRunner } from './exec.js';
import { executePlan } from './exec.js';
import type { LabLayout, NodeLayout } from './layout.js';
import type { LabStep } from './topology.js';

export type Partition =
  | { kind: 'cut'; a: string; b: string }
  | { kind: 'isolate'; node: string }
  | { kind: 'split'; left: string[]; right: string[] };

export interface PartitionPlan {
  table: string;
  family: 'bridge' | 'inet';
  netns: string;
  apply: LabStep;
  heal: LabStep;
}

/** The table name of the n-th fault of a lab: carries the lab id, valid as an nft identifier. */
export function faultTable(labId: string, seq: number): string {
  return `rnfault_${labId}_${seq}`;
}

export function describePartition(p: Partition): string {
  if (p.kind === 'cut') return `cut ${p.a}<->${p.b}`;
  if (p.kind === 'isolate') return `isolate ${p.node}`;
  return `split ${p.left.join(',')} | ${p.right.join(',')}`;
}

function nodeOf(layout: LabLayout, name: string): NodeLayout {
  const n = layout.nodes.find((x) => x.name === name);
  if (!n) throw new LabError('RN_LAB_NO_SUCH_NODE', `lab ${layout.id} has no node ${name} (nodes: ${layout.nodes.map((x) => x.name).join(', ')}).`);
  return n;
}

/** The address a node's packets carry on the bridge: its own, or its NAT router's WAN address. */
export function bridgeAddress(layout: LabLayout, name: string): string {
  const n = nodeOf(layout, name);
  if (!n.gateway) return n.underlay;
  const gw = layout.gateways.find((g) => g.name === n.gateway);
  if (!gw) throw new LabError('RN_LAB_NO_SUCH_NODE', `lab ${layout.id}: node ${name} names router ${n.gateway}, which the layout lacks.`);
  return gw.wan;
}

const set = (addrs: string[]) => `{ ${addrs.join(', ')} }`;

function nftIn(netns: string, ruleset: string): LabStep {
  return { argv: ['ip', 'netns', 'exec', netns, 'nft', '-f', '-'], stdin: ruleset };
}

/** Drops between two address sets, both directions, in the bridge's forward path. */
function bridgeDrop(table: string, left: string[], right: string[]): string {
  return [
    `table bridge ${table} {`,
    '  chain forward_drop {',
    '    type filter hook forward priority -200; policy accept;',
    `    ip saddr ${set(left)} ip daddr ${set(right)} drop`,
    `    ip saddr ${set(right)} ip daddr ${set(left)} drop`,
    '  }',
    '}',
    '',
  ].join('\n');
}

/** Drops every packet in and out of a namespace except on loopback. */
function isolateRuleset(table: string): string {
  return [
    `table inet ${table} {`,
    '  chain input_drop {',
    '    type filter hook input priority -300; policy accept;',
    '    iifname != "lo" drop',
    '  }',
    '  chain output_drop {',
    '    type filter hook output priority -300; policy accept;',
    '    oifname != "lo" drop',
    '  }',
    '}',
    '',
  ].join('\n');
}

export function planPartition(layout: LabLayout, p: Partition, table: string): PartitionPlan {
  if (p.kind === 'isolate') {
    const netns = nodeOf(layout, p.node).netns;
    return { table, family: 'inet', netns, apply: nftIn(netns, isolateRuleset(table)), heal: { argv: ['ip', 'netns', 'exec', netns, 'nft', 'delete', 'table', 'inet', table] } };
  }
  const [left, right] = p.kind === 'cut' ? [[p.a], [p.b]] : [p.left, p.right];
  if (left.length === 0 || right.length === 0) throw new LabError('RN_LAB_STEP_FAILED', `${describePartition(p)}: both sides need at least one node.`);
  const overlap = left.filter((n) => right.includes(n));
  if (overlap.length > 0) throw new LabError('RN_LAB_STEP_FAILED', `${describePartition(p)}: ${overlap.join(', ')} on both sides.`);
  const netns = layout.inet.netns;
  const ruleset = bridgeDrop(table, left.map((n) => bridgeAddress(layout, n)), right.map((n) => bridgeAddress(layout, n)));
  return { table, family: 'bridge', netns, apply: nftIn(netns, ruleset), heal: { argv: ['ip', 'netns', 'exec', netns, 'nft', 'delete', 'table', 'bridge', table] } };
}

/** The two halves of a list of nodes: the first ⌈n/2⌉ and the rest. */
export function halves(names: string[]): { left: string[]; right: string[] } {
  const k = Math.ceil(names.length / 2);
  return { left: names.slice(0, k), right: names.slice(k) };
}

/** A partition in force; heal() removes it (once). */
export interface ActivePartition {
  partition: Partition;
  plan: PartitionPlan;
  heal(): Promise<void>;
}

export async function applyPartition(runner: CommandRunner, layout: LabLayout, p: Partition, seq: number): Promise<ActivePartition> {
  const plan = planPartition(layout, p, faultTable(layout.id, seq));
  await executePlan([plan.apply], runner);
  let healed = false;
  return {
    partition: p,
    plan,
    async heal() {
      if (healed) return;
      await executePlan([plan.heal], runner);
      healed = true;
    },
  };
}
