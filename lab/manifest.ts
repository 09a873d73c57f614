// The lab's record of everything it created: written before each creation and
// updated after, under /tmp/resilnet-lab/<ID>/manifest.json, so `lab down` finds
// namespaces and processes again even after the lab process crashed.
import { mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LabError } from './errors.js';
import type { LabLayout, LabSpec } from './layout.js';
import type { ProcessRecord } from './procs.js';

export const LAB_ROOT = process.env.RESILNET_LAB_DIR ?? '/tmp/resilnet-lab';

export interface LabNodeRecord {
  name: string;
  netns: string;
  /** Node folder: certificates, resilnet.toml, state and run dirs. */
  dir: string;
  config: string;
  underlay: string;
  gateway?: string;
  prefix?: string;
  overlay?: string;
}

export interface LabManifest {
  version: 1;
  id: string;
  createdAt: string;
  repo: string;
  spec: LabSpec;
  hello: number;
  layout: LabLayout;
  state: 'building' | 'up' | 'failed';
  /** Namespaces this lab created (recorded just before each is created). */
  namespaces: string[];
  processes: ProcessRecord[];
  nodes: LabNodeRecord[];
  registry?: { dir: string; url: string; fingerprint?: string };
  /** When the daemons were started (for convergence figures). */
  daemonsStartedAtMs?: number;
  /** When all pairs first reached each other together. */
  convergedAtMs?: number;
  /** When the last missing pairs were first seen reaching (convergedAtMs is after the confirming round). */
  allReachedAtMs?: number;
  /** Nodes of the layout held back at start (not registered, no daemon) until they join. */
  heldBack?: string[];
}

export function labDir(id: string, root = LAB_ROOT): string {
  return join(root, id);
}

/** Claims the lab's folder; fails when a lab of that name exists (mkdir is atomic). */
export function claimLabDir(id: string, root = LAB_ROOT): string {
  mkdirSync(root, { recursive: true, mode: 0o755 });
  const dir = labDir(id, root);
  try {
    mkdirSync(dir, { mode: 0o755 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new LabError('RN_LAB_NAME_IN_USE', `lab name in use: ${id} (${dir} exists). Pick another --name, or remove it with: resilnet lab down --name ${id}`);
    }
    throw err;
  }
  return dir;
}

export function writeManifest(m: LabManifest, root = LAB_ROOT): void {
  const path = join(labDir(m.id, root), 'manifest.json');
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(m, null, 2)}\n`, { mode: 0o644 });
  renameSync(tmp, path);
}

export function readManifest(id: string, root = LAB_ROOT): LabManifest {
  const path = join(labDir(id, root), 'manifest.json');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new LabError('RN_LAB_NOT_FOUND', `no lab named ${id} (${path}: ${(err as NodeJS.ErrnoException).code}). See the running labs with: resilnet lab list`, { cause: err });
  }
  const m = JSON.parse(text) as LabManifest;
  if (m.version !== 1 || m.id !== id) {
    throw new LabError('RN_LAB_NOT_FOUND', `lab manifest ${path} is not a resilnet lab manifest (version ${String(m.version)}, id ${String(m.id)}).`);
  }
  return m;
}

/** Ids of labs that have a folder under the root. */
export function listLabIds(root = LAB_ROOT): string[] {
  try {
    return readdirSync(root, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
  } catch {
    return [];
  }
}
