/**
 * Builds the web UI (client/web) into dist/web, which the control API serves
 * at `/`. Everything is bundled into files of our own origin: the API's
 * Content-Security-Policy (`default-src 'self'`) allows no inline script or
 * style and nothing from elsewhere.
 */
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

export default defineConfig({
  root: fileURLToPath(new URL('client/web', import.meta.url)),
  base: '/',
  // Vite's dev server is not how the UI runs (the daemon serves the build); keep its cache out of the tree.
  cacheDir: fileURLToPath(new URL('node_modules/.vite-web', import.meta.url)),
  build: {
    outDir: fileURLToPath(new URL('dist/web', import.meta.url)),
    emptyOutDir: true,
    // Top-level await in main.ts; every browser of the last years runs ES2022.
    target: 'es2022',
    // The polyfill would be an extra script for browsers older than the target.
    modulePreload: { polyfill: false },
    // Small enough to inline, but inlined assets would be data: URLs, which the CSP refuses.
    assetsInlineLimit: 0,
    sourcemap: false,
    reportCompressedSize: true
  }
})
