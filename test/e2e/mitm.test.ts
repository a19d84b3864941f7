/**
 * `npm run mitm`'s swap against the real page in Debian's Chromium: the proxy steals the session keys, yet the
 * page refuses the welcome (the server's signature covers the proxy's key), sends no line, and says which check
 * caught it. Takes docs/img/mitm-caught.png. The other attacks are test/tools/mitm.test.ts, with the page's own
 * protocol engine and no browser.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { pageIsStale } from '../../server/build.ts';
import { startMitm } from '../../tools/mitm.ts';
import { checkA11y } from '../helpers/a11y.ts';
import { launchBrowser, screenshotPath } from '../helpers/browser.ts';
import { join as joinChat } from '../helpers/page.ts';
import { ROOT } from '../helpers/process.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/** The page's server, in process (its console's events recorded), serving dist/; a stale dist/ is rebuilt into a temp folder, leaving dist/ alone. */
async function pageServer(): Promise<{ server: TestServer; stop(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'wirechat-mitm-'));
  let dist = join(ROOT, 'dist');
  if (await pageIsStale(ROOT)) {
    dist = join(dir, 'dist');
    const { build } = await import('vite');
    await build({
      root: ROOT,
      configFile: join(ROOT, 'vite.config.ts'),
      logLevel: 'warn',
      build: { outDir: dist, emptyOutDir: true },
    });
  }
  const server = await startTestServer({}, { dist });
  return {
    server,
    async stop() {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

describe('mitm: swap against the real page in Chromium', () => {
  let browser: Browser;
  before(async () => {
    browser = await launchBrowser();
  });
  after(() => browser.close());

  it('the page refuses, shows the failed signature, sends no line, though the proxy holds the keys', async () => {
    const target = await pageServer();
    const log: string[] = [];
    const mitm = await startMitm({
      target: target.server.url,
      port: 0,
      log: (line) => log.push(line),
      modulusLength: 2048,
      swapAll: true,
    });
    await mitm.ready();
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    try {
      await joinChat(page, mitm.url, { name: 'alice' });
      const alert = page.locator('#chat-ended[data-by="integrity"] #integrity-alert');
      await alert.waitFor({ timeout: 20_000 });
      assert.ok(await alert.isVisible());
      const reason = await page.locator('#end-reason').innerText();
      assert.match(reason, /Integrity check failed \(HANDSHAKE_BAD_SIGNATURE\)/);
      assert.match(reason, /signature does not verify/);
      assert.equal(await page.locator('#status').getAttribute('data-state'), 'ended');
      await page.screenshot({ path: screenshotPath('mitm-caught.png') });
      await checkA11y(page, 'integrity failure: a swapped public key');

      // The proxy stole the keys, and got nothing to use them on: the page sent its hello and nothing else.
      assert.equal(mitm.stolen.length, 1);
      assert.ok(log.some((l) => l.includes('STOLEN session keys')));
      assert.deepEqual(
        mitm.frames.filter((f) => f.way === 'up').map((f) => f.type),
        ['hello'],
      );
      // All it read is the seat the server gave the session it thinks is alice's: the proxy's own session (its key),
      // so a secret to come back as itself, never the page's (docs/security.md, resume secrets).
      const read = log.filter((l) => l.includes('READ with the stolen keys'));
      assert.ok(
        read.every((l) => l.includes('"kind":"seat"')),
        read.join('\n'),
      );
      // The browser closes with 4008 (it may not send 1008), naming the check; the server's console shows it.
      assert.equal(mitm.closes[0]?.by, 'page');
      assert.equal(mitm.closes[0]?.code, 4008);
      assert.match(mitm.closes[0]!.reason, /^1008 HANDSHAKE_BAD_SIGNATURE/);
      const left = await target.server.waitForEvent((e) => e.kind === 'left');
      assert.equal(left.name, 'alice');
      // The page closed with 4008 (a browser may not send 1008); the console reads it as the 1008 it stands for.
      assert.equal(left.code, 1008);
      assert.match(
        left.text,
        /^disconnected \(1008 policy violation \(sent as 4008\); its close said "1008 HANDSHAKE_BAD_SIGNATURE/,
      );
      assert.equal(
        target.server.events.some((e) => e.kind === 'line'),
        false,
      );
    } finally {
      await page.close();
      await mitm.close();
      await target.stop();
    }
  });
});
