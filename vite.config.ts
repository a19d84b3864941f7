/**
 * Vite builds the page from index.html (repo root) into dist/, which the Node server serves. In development the
 * dev server forwards the WebSocket path /ws to that server, so the page stays same-origin in both setups.
 */
import { defineConfig } from 'vite';

const serverPort = process.env.WIRECHAT_PORT ?? '8080';

export default defineConfig({
  root: '.',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
  },
  server: {
    proxy: {
      '/ws': { target: `http://127.0.0.1:${serverPort}`, ws: true },
    },
  },
  preview: {
    proxy: {
      '/ws': { target: `http://127.0.0.1:${serverPort}`, ws: true },
    },
  },
});
