/**
 * `npm run dev`: Vite's dev server with hot reload, its proxy forwarding /ws to `npm run server`, so the page
 * stays same-origin and the chat works exactly as from the built page.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import type { Browser } from 'playwright-core';
import { launchBrowser } from '../helpers/browser.ts';
import { freePort, ROOT, type ServerProcess, startServerProcess } from '../helpers/process.ts';
import { chatLine, join, say, waitForState } from '../helpers/page.ts';
import { checkA11y } from '../helpers/a11y.ts';

describe('npm run dev', () => {
  let browser: Browser;
  let server: ServerProcess;
  let vite: ChildProcess;
  let devUrl: string;
  before(async () => {
    browser = await launchBrowser();
    server = await startServerProcess();
    const port = await freePort();
    vite = spawn(
      'npm',
      ['run', '--silent', 'dev', '--', '--port', String(port), '--strictPort', '--host', '127.0.0.1'],
      {
        cwd: ROOT,
        env: { ...process.env, WIRECHAT_PORT: String(server.port) },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      },
    );
    devUrl = `http://127.0.0.1:${port}/`;
    let output = '';
    vite.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const deadline = Date.now() + 30_000;
    while (!output.includes(String(port))) {
      if (Date.now() > deadline) throw new Error(`vite did not start:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });
  after(async () => {
    await browser.close();
    try {
      process.kill(-vite.pid!, 'SIGTERM');
    } catch {
      // already gone
    }
    await server.stop();
  });

  it('serves the page from source and proxies the chat to the server', async () => {
    const page = await browser.newPage();
    await join(page, devUrl, { name: 'dev' });
    await waitForState(page, 'secure');
    await say(page, 'through the dev proxy');
    await server.waitForLine('dev: through the dev proxy');
    server.type('back through it');
    await chatLine(page, 'back through it').waitFor();
    await checkA11y(page, 'secure chat from the dev server');
    const scripts = await page.locator('script[type="module"]').evaluateAll((s) => s.map((e) => e.getAttribute('src')));
    assert.ok(
      scripts.some((src) => src?.includes('/@vite/client')),
      'the page came from the dev server, with hot reload',
    );
    await page.close();
  });
});
