/**
 * Trust on first use, in Chromium: the page pins the server's fingerprint, and when the server comes back on the
 * same address with another key it stops with a loud warning showing both fingerprints, sending nothing until
 * the person decides.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { launchBrowser, screenshotPath } from '../helpers/browser.ts';
import { freePort, type ServerProcess, startServerProcess } from '../helpers/process.ts';
import { join, say, waitForState } from '../helpers/page.ts';
import { checkA11y } from '../helpers/a11y.ts';

const squash = (text: string) => text.replace(/\s+/g, ' ').trim();

describe('a server whose key changed', () => {
  let browser: Browser;
  let server: ServerProcess | undefined;
  before(async () => {
    browser = await launchBrowser();
  });
  after(async () => {
    await server?.stop();
    await browser.close();
  });

  it('stops the page with both fingerprints; Disconnect sends nothing, Trust goes on and pins the new key', async () => {
    const port = await freePort();
    const context = await browser.newContext();
    const page = await context.newPage();

    server = await startServerProcess([], { port });
    const first = server.fingerprint;
    await join(page, server.url, { name: 'ivy' });
    await waitForState(page, 'secure');
    assert.equal(await page.locator('#trust-note').getAttribute('data-trust'), 'first');
    await say(page, 'exit');
    await waitForState(page, 'ended');
    await server.stop();

    // Same address, a new identity file: what a reinstall, or a man in the middle with its own key, looks like.
    server = await startServerProcess([], { port });
    const second = server.fingerprint;
    assert.notEqual(second, first);
    await join(page, server.url, { name: 'ivy' });
    await page.locator('#trust-warning').waitFor();
    assert.equal(squash(await page.locator('#pinned-fingerprint').innerText()), first);
    assert.equal(squash(await page.locator('#presented-fingerprint').innerText()), second);
    assert.equal(
      await page.evaluate(() => (document.activeElement?.shadowRoot ? 'in component' : 'page')),
      'in component',
    );
    await page.screenshot({ path: screenshotPath('key-changed.png') });
    await checkA11y(page, 'changed-key warning');

    // Disconnect: the chat ends and not one chat line of this page ever reached the server.
    await page.locator('#trust-disconnect').click();
    await waitForState(page, 'ended');
    assert.equal(server.lines.filter((line) => /\] ivy: /.test(line)).length, 0, 'no chat line reached the console');
    await checkA11y(page, 'chat ended: changed key refused');

    await page.locator('#new-chat').click();
    await page.locator('#name-input').press('Enter');
    await page.locator('#trust-accept').click();
    await waitForState(page, 'secure');
    assert.equal(await page.locator('#trust-note').getAttribute('data-trust'), 'replaced');
    await checkA11y(page, 'secure chat with a changed key trusted');
    await say(page, 'trusted the new key');
    await server.waitForLine(/\] ivy(-\d+)?: trusted the new key$/);
    await context.close();
  });
});
