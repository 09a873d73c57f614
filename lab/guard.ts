// Labs that must be removed however a run ends: normally, on an error, on a
// timeout, or on SIGINT/SIGTERM (ava stops a timed-out test file with
// SIGTERM). A failed lab left running starves the next run of CPU.
import { existsSync } from 'node:fs';
import { labDown } from './lab.js';
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
      const log = (l: string) => process.stderr.write(`${l}\n`);
      void Promise.all(ids.map(([id, root]) => downIfPresent(id, root, log))).finally(() => process.exit(code));
    });
  }
}

export interface LabGuard {
  /** Removes the lab if it still exists, and stops guarding it. */
  remove(): Promise<void>;
  /** Stops guarding it (it was removed another way). */
  release(): void;
}

/** Marks a lab id for removal on SIGINT/SIGTERM. */
export function guardLab(id: string, options: { root?: string; log?: (line: string) => void } = {}): LabGuard {
  const root = options.root ?? LAB_ROOT;
  guarded.set(id, root);
  installSignalHandlers();
  return {
    async remove() {
      await downIfPresent(id, root, options.log ?? ((l) => process.stderr.write(`${l}\n`)));
      guarded.delete(id);
    },
    release() {
      guarded.delete(id);
    },
  };
}
