import { defineConfig } from 'tsup';

// The benchmark's own bundle (`npm run bench`): Node-only, written to build/bench/ so the
// package's dist/ stays as the main tsup.config.ts makes it. It imports the TypeScript sources
// (src/) directly and loads the core built by `npm run build` (dist/vtd-core.wasm).
export default defineConfig({
  entry: { main: 'bench/main.ts' },
  outDir: 'build/bench',
  format: ['esm'],
  platform: 'node',
  target: 'node20',
  dts: false,
  sourcemap: true,
  clean: true,
  splitting: false,
  silent: true,
});
