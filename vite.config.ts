/**
 * Vite builds the page from index.html (repo root) into dist/, which the Node server serves. In development the
 * dev server forwards the WebSocket path /ws to that server, so the page stays same-origin in both setups.
 */
import { fileURLToPath } from 'node:url';
import { build, defineConfig, type Plugin } from 'vite';

const serverPort = process.env.WIRECHAT_PORT ?? '8080';
const TARGET = 'es2022';

const ROOT = fileURLToPath(new URL('.', import.meta.url));
const EARLY_SCRIPT = fileURLToPath(new URL('web/early-key-pair-script.ts', import.meta.url));
const EARLY_NAME = 'early-key-pair.js';

/**
 * The first key pair starts from a classic script of its own, put before the page's module scripts in
 * index.html: a classic script runs while the document is parsed, as soon as it has arrived, whereas the page's
 * module could run only after the whole bundle (Lit, the components) had been downloaded and parsed, and module
 * scripts wait for the parser and the first rendering besides (the pair was asked for about 200 ms into a page
 * load on the bench machine; docs/benchmarks.md, issue 14's third pass). It is built here as an IIFE with little but the key pair's code (2 KiB),
 * and the bundle keeps early-key-pair.ts too, which takes the pair this script started. A file, not an inline
 * script: the CSP allows scripts from the page's own origin only. Build only: in dev, main.ts starts the pair.
 */
function earlyKeyPairScript(): Plugin {
  return {
    name: 'wirechat-early-key-pair',
    apply: 'build',
    async buildStart() {
      const built = await build({
        configFile: false,
        root: ROOT,
        logLevel: 'warn',
        publicDir: false,
        build: {
          write: false,
          target: TARGET,
          minify: true,
          lib: { entry: EARLY_SCRIPT, formats: ['iife'], name: 'wirechatEarlyKeyPair' },
        },
      });
      const outputs = (Array.isArray(built) ? built : [built]).flatMap((b) => ('output' in b ? b.output : []));
      const chunk = outputs.find((o) => o.type === 'chunk');
      if (!chunk || chunk.type !== 'chunk' || outputs.length !== 1) {
        throw new Error('vite.config.ts: the early key pair script did not build into one file');
      }
      this.emitFile({ type: 'asset', name: EARLY_NAME, source: chunk.code });
    },
    transformIndexHtml: {
      order: 'post',
      handler(html, ctx) {
        const asset = Object.values(ctx.bundle ?? {}).find(
          (out) => out.type === 'asset' && out.names.includes(EARLY_NAME),
        );
        if (!asset) throw new Error(`vite.config.ts: no ${EARLY_NAME} in the bundle for index.html`);
        // Before every other script, and before any style sheet: a classic script waits for the sheets above it.
        const first = Math.min(
          ...['<script', '<link rel="stylesheet"'].map((tag) => html.indexOf(tag)).filter((at) => at >= 0),
        );
        if (first === Infinity) throw new Error('vite.config.ts: index.html has no script to put the key pair before');
        const tag = `<script src="/${asset.fileName}"></script>\n    `;
        return html.slice(0, first) + tag + html.slice(first);
      },
    },
  };
}

export default defineConfig({
  root: '.',
  plugins: [earlyKeyPairScript()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: TARGET,
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
