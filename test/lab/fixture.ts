// The lab of one end-to-end test: a unique name, progress in t.log, and always
// removed: at the test's end, when the build fails, and when ava stops the file
// (LabHandle.up guards the lab against SIGTERM/SIGINT).
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { ExecutionContext, TestFn } from 'ava';
import { LabHandle } from '../../lab/handle.js';
import type { LabUpOptions } from '../../lab/lab.js';
import { labDir } from '../../lab/manifest.js';
import { assertBuildCurrent } from '../fixtures/built-cli.js';

export async function labFor(t: ExecutionContext, prefix: string, options: LabUpOptions = {}): Promise<LabHandle> {
  assertBuildCurrent(); // the lab runs bin/resilnet: the build, not the sources
  const id = `${prefix}${randomBytes(3).toString('hex')}`;
  let lab: LabHandle | undefined;
  t.teardown(async () => {
    if (lab && existsSync(labDir(lab.id))) await lab.down();
  });
  lab = await LabHandle.up({ id, log: (line) => t.log(`[${id}] ${line}`), ...options });
  return lab;
}

/**
 * One lab for serial tests of a file that do not disturb each other: built (as
 * labFor) by the first test that asks, the same one for each later test. It is
 * removed at the end of the test that asks with `last` (its daemons would load
 * the machine under the file's other tests), and in any case after the file's
 * last test, also when one failed (test.after.always). A failed build fails
 * every test that asks.
 */
export function sharedLab(test: TestFn, prefix: string, options: LabUpOptions = {}): (t: ExecutionContext, use?: { last?: boolean }) => Promise<LabHandle> {
  assertBuildCurrent();
  const id = `${prefix}${randomBytes(3).toString('hex')}`;
  let lab: Promise<LabHandle> | undefined;
  // The lab's progress lines go to the test that asked last (the one running).
  let current: ExecutionContext | undefined;
  const down = async () => {
    if (existsSync(labDir(id))) await (await lab?.catch(() => undefined))?.down();
  };
  test.after.always(down);
  return (t, use = {}) => {
    current = t;
    if (use.last) t.teardown(down);
    return (lab ??= LabHandle.up({ id, log: (line) => current?.log(`[${id}] ${line}`), ...options }));
  };
}

/** Ordered pairs that do not reach each other right now, "a->b". */
export async function unreachable(lab: LabHandle, names = lab.nodes.map((n) => n.name)): Promise<string[]> {
  const matrix = await lab.matrix(names);
  return names.flatMap((a) => names.filter((b) => b !== a && matrix[a]?.[b] !== true).map((b) => `${a}->${b}`));
}
