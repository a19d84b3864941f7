/**
 * Web Crypto exists only in secure contexts; a page opened any other way says so and how to fix it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { launchBrowser } from '../helpers/browser.ts';
import { startServerProcess } from '../helpers/process.ts';
import { checkA11y } from '../helpers/a11y.ts';

let browser: Browser;
before(async () => {
  browser = await launchBrowser();
});
after(() => browser.close());

describe('secure context', () => {
  it('explains why a page opened from a non-local http address cannot chat', async () => {
    const server = await startServerProcess();
    // A name that resolves to loopback but is not "localhost": Chromium treats it as an insecure origin.
    const context = await browser.newContext();
    const page = await context.newPage();
    try {
      await page.route('http://wirechat.test/**', async (route) => {
        const url = new URL(route.request().url());
        const response = await fetch(`${server.url.replace(/\/$/, '')}${url.pathname}`);
        await route.fulfill({
          status: response.status,
          headers: Object.fromEntries(response.headers),
          body: Buffer.from(await response.arrayBuffer()),
        });
      });
      await page.goto('http://wirechat.test/');
      const text = await page.locator('#insecure-context').innerText();
      assert.match(text, /Web Crypto/);
      assert.match(text, /localhost/);
      assert.match(text, /Start the server with --tls .* and open https:\/\/wirechat\.test/);
      await checkA11y(page, 'no Web Crypto page');
    } finally {
      await context.close();
      await server.stop();
    }
  });
});
