import { copyFileSync, mkdirSync } from 'node:fs';
import { defineConfig } from 'tsup';

// One ESM bundle for Node and browsers; the core ships beside it as dist/vtd-core.wasm and is
// located with `new URL('./vtd-core.wasm', import.meta.url)` (src/wasm/core.ts).
export default defineConfig({
  entry: { index: 'src/index.ts' },
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'es2022',
  platform: 'neutral',
  external: ['node:fs/promises'],
  onSuccess: async () => {
    mkdirSync('dist', { recursive: true });
    copyFileSync('build/vtd-core.wasm', 'dist/vtd-core.wasm');
  },
});
