// Bundles the daemon entry (dist/cli/daemon-main.js, from tsc) into
// dist/bundle/: one file for what the daemon loads at start, and chunks for
// what it imports later (certificate renewal, UPnP). Loading one file instead
// of ~300 modules takes less start-up time and less memory (see
// docs/benchmarks.md, "Footprint"). better-sqlite3 stays external (a native
// addon); createRequire-loaded packages resolve from node_modules as before.
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

// Chunk names carry content hashes: old ones would pile up.
rmSync('dist/bundle', { recursive: true, force: true });

await build({
  entryPoints: ['dist/cli/daemon-main.js'],
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
  logLevel: 'warning',
});
