// The fault sequence of a chaos run, drawn from a seeded generator (pure): the
// same seed, lab shape and length give the same faults in the same order, so a
// failing run can be repeated. Each fault says how long it is held and how soon
// after its heal every pair must reach again.
import type { Partition } from './partition.js';
import { describePartition } from './partition.js';
import { seededRng } from './rng.js';
import type { Rng } from './rng.js';

export type ChildName = 'babeld' | 'openvpn';

export type ChaosFault =
  | { kind: 'partition'; partition: Partition; holdSec: number }
  /** The daemon stopped (SIGTERM) or killed (SIGKILL), then started again by the lab. */
  | { kind: 'daemon-restart'; node: string; signal: 'SIGTERM' | 'SIGKILL'; holdSec: number }
  | { kind: 'child-kill'; node: string; child: ChildName; holdSec: 0 }
  /** A child frozen with SIGSTOP for holdSec, then SIGCONT. */
  | { kind: 'child-stop'; node: string; child: ChildName; holdSec: number }
  | { kind: 'registry-restart'; holdSec: number }
  /** CPU starvation: the node's daemon frozen with SIGSTOP for a few seconds. */
  | { kind: 'daemon-stop'; node: string; holdSec: number };

export interface ChaosStep {
  index: number;
  fault: ChaosFault;
  /** All pairs must reach again within this many ms of the heal. */
  boundMs: number;
}

export interface ChaosShape {
  seed: number;
  minutes: number;
  /** Node names, n1…nN. */
  nodes: string[];
}

/** Recovery bounds: the 30 s after a heal; a restarted daemon must also re-open its tunnels. */
export const RECOVERY_BOUND_MS: Record<ChaosFault['kind'], number> = {
  partition: 30_000,
  'daemon-restart': 60_000,
  'child-kill': 30_000,
  'child-stop': 30_000,
  'registry-restart': 30_000,
  'daemon-stop': 30_000,
};

/** Time a step is expected to take beyond its hold (recovery + checks), for the plan's length. */
const STEP_OVERHEAD_SEC = 20;

const KINDS: Array<{ weight: number; draw: (rng: Rng, nodes: string[]) => ChaosFault }> = [
  { weight: 3, draw: (rng, nodes) => {
    const [a, b] = rng.shuffle(nodes);
    return { kind: 'partition', partition: { kind: 'cut', a: a as string, b: b as string }, holdSec: rng.int(20, 60) };
  } },
  { weight: 2, draw: (rng, nodes) => ({ kind: 'partition', partition: { kind: 'isolate', node: rng.pick(nodes) }, holdSec: rng.int(30, 90) }) },
  { weight: 2, draw: (rng, nodes) => {
    const order = rng.shuffle(nodes);
    const k = Math.ceil(order.length / 2);
    const byIndex = (xs: string[]) => [...xs].sort((x, y) => nodes.indexOf(x) - nodes.indexOf(y));
    return { kind: 'partition', partition: { kind: 'split', left: byIndex(order.slice(0, k)), right: byIndex(order.slice(k)) }, holdSec: rng.int(30, 90) };
  } },
  { weight: 2, draw: (rng, nodes) => ({ kind: 'daemon-restart', node: rng.pick(nodes), signal: rng.pick(['SIGTERM', 'SIGKILL'] as const), holdSec: rng.int(2, 10) }) },
  { weight: 2, draw: (rng, nodes) => ({ kind: 'child-kill', node: rng.pick(nodes), child: rng.pick(['babeld', 'openvpn'] as const), holdSec: 0 }) },
  { weight: 2, draw: (rng, nodes) => ({ kind: 'child-stop', node: rng.pick(nodes), child: rng.pick(['babeld', 'openvpn'] as const), holdSec: 10 }) },
  { weight: 1, draw: (rng) => ({ kind: 'registry-restart', holdSec: rng.int(10, 60) }) },
  { weight: 2, draw: (rng, nodes) => ({ kind: 'daemon-stop', node: rng.pick(nodes), holdSec: rng.int(2, 8) }) },
];

/** Faults until their holds plus expected recovery fill the run's minutes (at least one). */
export function planChaos(shape: ChaosShape): ChaosStep[] {
  if (shape.nodes.length < 2) throw new Error('a chaos run needs at least two nodes');
  const rng = seededRng(shape.seed);
  const total = KINDS.reduce((n, k) => n + k.weight, 0);
  const steps: ChaosStep[] = [];
  let budgetSec = shape.minutes * 60;
  while (steps.length === 0 || budgetSec > 0) {
    let r = rng.next() * total;
    const kind = KINDS.find((k) => (r -= k.weight) < 0) ?? (KINDS[0] as (typeof KINDS)[number]);
    const fault = kind.draw(rng, shape.nodes);
    budgetSec -= fault.holdSec + STEP_OVERHEAD_SEC;
    if (steps.length > 0 && budgetSec < 0) break;
    steps.push({ index: steps.length + 1, fault, boundMs: RECOVERY_BOUND_MS[fault.kind] });
  }
  return steps;
}

export function describeFault(f: ChaosFault): string {
  switch (f.kind) {
    case 'partition':
      return `${describePartition(f.partition)} for ${f.holdSec} s`;
    case 'daemon-restart':
      return `daemon of ${f.node} ${f.signal === 'SIGKILL' ? 'killed (-9)' : 'stopped (SIGTERM)'}, started again after ${f.holdSec} s`;
    case 'child-kill':
      return `${f.child} of ${f.node} killed`;
    case 'child-stop':
      return `${f.child} of ${f.node} frozen (SIGSTOP) for ${f.holdSec} s`;
    case 'registry-restart':
      return `registry stopped for ${f.holdSec} s`;
    case 'daemon-stop':
      return `daemon of ${f.node} starved (SIGSTOP) for ${f.holdSec} s`;
  }
}
