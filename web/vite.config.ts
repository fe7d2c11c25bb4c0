import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// The page imports the BUILT package (dist/index.js, the bundle npm users get; run
// `npm run build` first). The core is found by the bundle itself with
// `new URL('./vtd-core.wasm', import.meta.url)`: Vite emits dist/vtd-core.wasm as an asset and
// rewrites that URL, and the browser fetches it. No Node API is involved.
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: here('.'),
  base: './',
  resolve: { alias: { 'vtd-emu': here('../dist/index.js') } },
  build: {
    outDir: here('dist'),
    emptyOutDir: true,
    target: 'es2022',
    // Keep the .wasm a separate file (served as application/wasm), never inlined as base64.
    assetsInlineLimit: 0,
  },
  server: { host: '127.0.0.1' },
  preview: { host: '127.0.0.1' },
});
