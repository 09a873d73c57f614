// The lab of one end-to-end test: a unique name, progress in t.log, and always
// removed: at the test's end, when the build fails, and when ava stops the file
// (LabHandle.up guards the lab against SIGTERM/SIGINT).
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { ExecutionContext } from 'ava';
import { LabHandle } from '../../lab/handle.js';
import type { LabUpOptions } from '../../lab/lab.js';
import { labDir } from '../../lab/manifest.js';

export async function labFor(t: ExecutionContext, prefix: string, options: LabUpOptions = {}): Promise<LabHandle> {
  const id = `${prefix}${randomBytes(3).toString('hex')}`;
  let lab: LabHandle | undefined;
  t.teardown(async () => {
    if (lab && existsSync(labDir(lab.id))) await lab.down();
  });
  lab = await LabHandle.up({ id, log: (line) => t.log(`[${id}] ${line}`), ...options });
  return lab;
}

/** Ordered pairs that do not reach each other right now, "a->b". */
export async function unreachable(lab: LabHandle, names = lab.nodes.map((n) => n.name)): Promise<string[]> {
  const matrix = await lab.matrix(names);
  return names.flatMap((a) => names.filter((b) => b !== a && matrix[a]?.[b] !== true).map((b) => `${a}->${b}`));
}
