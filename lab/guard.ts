// Labs that must be removed however a run ends: normally, on an error, on a
// timeout, or on SIGINT/SIGTERM (ava stops a timed-out test file with
// SIGTERM). A failed lab left running starves the next run of CPU.
import { existsSync } from 'node:fs';
import { LabHandle } from './handle.js';
import type { LabUpOptions } from './lab.js';
import { labDown, randomLabId } from './lab.js';
import { labDir, LAB_ROOT } from './manifest.js';

const guarded = new Map<string, string>();
let handlersInstalled = false;

async function downIfPresent(id: string, root: string, log: (line: string) => void): Promise<void> {
  if (!existsSync(labDir(id, root))) return;
  try {
    await labDown(id, { root });
  } catch (err) {
    log(`lab ${id}: teardown failed: ${(err as Error).message} (remove it with: resilnet lab down --name ${id})`);
  }
}

function installSignalHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    // once: a second signal ends the process at once, teardown or not.
    process.once(signal, () => {
      const ids = [...guarded.entries()];
      process.stderr.write(`${signal}: removing ${ids.length} lab(s) before exiting: ${ids.map(([id]) => id).join(', ') || 'none'}\n`);
      void Promise.all(ids.map(([id, root]) => downIfPresent(id, root, (l) => process.stderr.write(`${l}\n`)))).finally(() => process.exit(code));
    });
  }
}

/** Marks a lab id for removal on SIGINT/SIGTERM; returns the function that removes it now. */
export function guardLab(id: string, options: { root?: string; log?: (line: string) => void } = {}): () => Promise<void> {
  const root = options.root ?? LAB_ROOT;
  guarded.set(id, root);
  installSignalHandlers();
  return async () => {
    await downIfPresent(id, root, options.log ?? ((l) => process.stderr.write(`${l}\n`)));
    guarded.delete(id);
  };
}

/**
 * Brings a lab up, runs `fn` on it and always removes it afterwards, also when
 * the build itself failed (a lab that did not converge is otherwise kept for
 * inspection) and when the process is interrupted.
 */
export async function withLab<T>(options: LabUpOptions, fn: (lab: LabHandle) => Promise<T>): Promise<T> {
  const id = options.id ?? randomLabId();
  const remove = guardLab(id, { ...(options.root ? { root: options.root } : {}), ...(options.log ? { log: options.log } : {}) });
  try {
    return await fn(await LabHandle.up({ ...options, id }));
  } finally {
    await remove();
  }
}
