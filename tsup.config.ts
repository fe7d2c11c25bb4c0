import { chmodSync, copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { defineConfig } from 'tsup';

const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };

// Two builds into dist/:
// - the library: one ESM bundle for Node and browsers (dist/index.js + types); the core ships
//   beside it as dist/vtd-core.wasm and is located with `new URL('./vtd-core.wasm',
//   import.meta.url)` (src/wasm/core.ts).
// - the command line (the package's bin): dist/cli.js, Node only, one self-contained file
//   (it bundles the benchmark in bench/), with a shebang; it loads the same dist/vtd-core.wasm.
// They run concurrently, so the library's clean step leaves the CLI's files alone.
export default defineConfig([
  {
    entry: { index: 'src/index.ts' },
    format: ['esm'],
    dts: true,
    sourcemap: true,
    clean: ['!cli.js', '!cli.js.map'],
    target: 'es2022',
    platform: 'neutral',
    external: ['node:fs/promises'],
    onSuccess: async () => {
      mkdirSync('dist', { recursive: true });
      copyFileSync('build/vtd-core.wasm', 'dist/vtd-core.wasm');
    },
  },
  {
    entry: { cli: 'src/cli/main.ts' },
    format: ['esm'],
    dts: false,
    sourcemap: true,
    clean: false,
    splitting: false,
    target: 'node20',
    platform: 'node',
    banner: { js: '#!/usr/bin/env node' },
    define: { __VTD_EMU_VERSION__: JSON.stringify(version) },
    onSuccess: async () => {
      chmodSync('dist/cli.js', 0o755);
    },
  },
]);
