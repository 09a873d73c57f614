// Bundles the daemon entry (dist/cli/daemon-main.js, from tsc) into
// dist/bundle/: one file for what the daemon loads at start, and chunks for
// what it imports later (certificate renewal, UPnP, LAN discovery). Loading one
// file instead of ~300 modules takes less start-up time and less memory (see
// docs/benchmarks.md, "Footprint"). better-sqlite3 stays external (a native
// addon); createRequire-loaded packages resolve from node_modules as before.
// The build fails when the bundle holds registry, lab or CA code, or when the
// daemon's start would load certificate building; it warns when all of zod is
// loaded at start (see the checks at the end).
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

const ENTRY = 'dist/cli/daemon-main.js';

// Chunk names carry content hashes: old ones would pile up.
rmSync('dist/bundle', { recursive: true, force: true });

const { metafile } = await build({
  entryPoints: [ENTRY],
  outdir: 'dist/bundle',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['better-sqlite3'],
  // Without comments the file is ASCII, so V8 holds its source as one byte per
  // character (a single non-ASCII comment made it two); names are kept so CPU
  // profiles stay readable. Heap after load 9.3 → 7.6 MiB (docs/benchmarks.md).
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  // CommonJS packages inside an ES module bundle need a require of their own.
  banner: { js: "import { createRequire as __bundleRequire } from 'node:module'; const require = __bundleRequire(import.meta.url);" },
  metafile: true,
  logLevel: 'warning',
});

/** The output files the entry loads before it runs (static imports), and the module sources in them. */
function startSet(meta) {
  const entry = Object.keys(meta.outputs).find((o) => meta.outputs[o].entryPoint === ENTRY);
  const files = new Set();
  for (const todo = [entry]; todo.length > 0; ) {
    const file = todo.pop();
    if (files.has(file)) continue;
    files.add(file);
    for (const i of meta.outputs[file].imports) if (i.kind === 'import-statement' && meta.outputs[i.path]) todo.push(i.path);
  }
  const inputs = new Map();
  for (const f of files) for (const [input, { bytesInOutput }] of Object.entries(meta.outputs[f].inputs)) inputs.set(input, bytesInOutput);
  return { files, inputs };
}

// Never in a daemon: the registry, the lab, the CA's issuing and CSR code.
const NEVER = [/(^|\/)dist\/(registry|lab|bench)\//, /(^|\/)dist\/pki\/(ca|csr)\.js$/];
// Not before the first tunnel request: certificate building (renewal loads it later).
const NOT_AT_START = [/(^|\/)dist\/pki\/(x509|keys)\.js$/, /node_modules\/@peculiar\//, /node_modules\/reflect-metadata\//];
// All of zod comes along when a module imports `{ z }` from 'zod' (its translations,
// JSON-schema code): `import * as z from 'zod'` lets the bundle keep what is used.
const ALL_OF_ZOD = /node_modules\/zod\/v4\/locales\/(?!en\.js)/;

function listed(inputs) {
  return `${inputs.slice(0, 5).join(', ')}${inputs.length > 5 ? ` and ${inputs.length - 5} more` : ''}`;
}

const startInputs = [...startSet(metafile).inputs.keys()];
const problems = Object.keys(metafile.inputs).filter((input) => NEVER.some((re) => re.test(input))).map((input) => `${input} is in the daemon bundle`);
const early = startInputs.filter((input) => NOT_AT_START.some((re) => re.test(input)));
if (early.length > 0) problems.push(`loaded at the daemon's start: ${listed(early)}`);
if (problems.length > 0) {
  console.error(`bundle-daemon: the daemon would load code it does not use:\n  ${problems.join('\n  ')}\nImport it where it is used (a dynamic import(), as for UPnP).`);
  process.exit(1);
}
if (startInputs.some((input) => ALL_OF_ZOD.test(input))) {
  console.warn("bundle-daemon: all of zod (~440 KB more) is loaded at the daemon's start: a module on its path imports `{ z } from 'zod'`; write `import * as z from 'zod'`.");
}
