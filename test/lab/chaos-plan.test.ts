import test from 'ava';
import { describeFault, planChaos, RECOVERY_BOUND_MS } from '../../lab/chaos-plan.js';
import { renderChaosTable } from '../../lab/chaos.js';
import { seededRng } from '../../lab/rng.js';

const nodes = Array.from({ length: 16 }, (_, i) => `n${i + 1}`);

test('the generator is deterministic per seed and uniform enough to draw every index', (t) => {
  const a = seededRng(42);
  const b = seededRng(42);
  const xs = Array.from({ length: 1000 }, () => a.next());
  t.deepEqual(xs, Array.from({ length: 1000 }, () => b.next()));
  t.true(xs.every((x) => x >= 0 && x < 1));
  const c = seededRng(7);
  const seen = new Set(Array.from({ length: 500 }, () => c.int(1, 6)));
  t.deepEqual([...seen].sort(), [1, 2, 3, 4, 5, 6]);
  const one = seededRng(1);
  const two = seededRng(2);
  t.notDeepEqual(Array.from({ length: 5 }, () => one.next()), Array.from({ length: 5 }, () => two.next()));
});

test('same seed, same fault sequence; another seed, another one', (t) => {
  const plan = (seed: number) => planChaos({ seed, minutes: 10, nodes }).map((s) => describeFault(s.fault));
  t.deepEqual(plan(7), plan(7));
  t.notDeepEqual(plan(7), plan(8));
});

test('a plan fills its minutes with holds plus expected recovery, uses only lab nodes, and gives each fault its bound', (t) => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const steps = planChaos({ seed, minutes: 10, nodes });
    const hold = steps.reduce((n, s) => n + s.fault.holdSec + 20, 0);
    t.true(hold <= 600, `seed ${seed}: ${hold} s planned`);
    t.true(steps.length >= 5, `seed ${seed}: ${steps.length} faults`);
    t.deepEqual(steps.map((s) => s.index), steps.map((_, i) => i + 1));
    for (const s of steps) {
      t.is(s.boundMs, RECOVERY_BOUND_MS[s.fault.kind]);
      const f = s.fault;
      const named = f.kind === 'partition'
        ? (f.partition.kind === 'cut' ? [f.partition.a, f.partition.b] : f.partition.kind === 'isolate' ? [f.partition.node] : [...f.partition.left, ...f.partition.right])
        : 'node' in f ? [f.node] : [];
      for (const n of named) t.true(nodes.includes(n), `${describeFault(f)} names ${n}`);
      if (f.kind === 'partition' && f.partition.kind === 'cut') t.not(f.partition.a, f.partition.b);
      if (f.kind === 'partition' && f.partition.kind === 'split') t.is(f.partition.left.length + f.partition.right.length, nodes.length);
    }
  }
  // A 1-minute plan still holds one fault, and the kinds over many seeds cover the brief's list.
  t.is(planChaos({ seed: 3, minutes: 0, nodes }).length, 1);
  const kinds = new Set(Array.from({ length: 40 }, (_, seed) => planChaos({ seed, minutes: 10, nodes }).map((s) => (s.fault.kind === 'partition' ? s.fault.partition.kind : s.fault.kind))).flat());
  t.deepEqual([...kinds].sort(), ['child-kill', 'child-stop', 'cut', 'daemon-restart', 'daemon-stop', 'isolate', 'registry-restart', 'split']);
});

test('the chaos table shows each fault, its bound, its recovery and what failed', (t) => {
  const text = renderChaosTable([
    { index: 1, kind: 'partition', fault: 'isolate n3 for 40 s', boundMs: 30_000, recoveredMs: 4_200, ok: true, note: '' },
    { index: 2, kind: 'daemon-stop', fault: 'daemon of n2 starved (SIGSTOP) for 5 s', boundMs: 30_000, recoveredMs: null, ok: false, note: 'NOT recovered' },
  ]);
  const lines = text.split('\n');
  t.is(lines.length, 3);
  t.regex(lines[1]!, /^ {2}1 {2}isolate n3 for 40 s\s+30\.0\s+4\.2 {2}ok$/);
  t.regex(lines[2]!, /30\.0\s+- {2}FAIL NOT recovered$/);
});
