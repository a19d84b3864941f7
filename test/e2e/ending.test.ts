/**
 * Ending the chat from the console side: END typed at the prompt, and SIGTERM, each with its close code, a reason
 * every tab shows, and exit status 0.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { launchBrowser } from '../helpers/browser.ts';
import { startServerProcess } from '../helpers/process.ts';
import { join, waitForState } from '../helpers/page.ts';
import { checkA11y } from '../helpers/a11y.ts';

let browser: Browser;
before(async () => {
  browser = await launchBrowser();
});
after(() => browser.close());

describe('the console ends the chat', () => {
  it('END in the console tells every tab why, closes with 1000 and exits with status 0', async () => {
    const server = await startServerProcess();
    try {
      const page = await browser.newPage();
      await join(page, server.url, { name: 'carol' });
      await waitForState(page, 'secure');
      server.type('  End ');
      await waitForState(page, 'ended');
      assert.match(await page.locator('#end-reason').innerText(), /server operator ended the chat \(END\)/i);
      await checkA11y(page, 'chat ended by the console (END)');
      const exit = await server.exited;
      assert.equal(exit.code, 0);
      await page.close();
    } finally {
      await server.stop();
    }
  });

  it('SIGTERM to the server ends the chat for every tab with a reason, and exits with status 0', async () => {
    const server = await startServerProcess();
    try {
      const page = await browser.newPage();
      await join(page, server.url, { name: 'dave' });
      await waitForState(page, 'secure');
      server.signalServer('SIGTERM');
      await waitForState(page, 'ended');
      assert.match(await page.locator('#end-reason').innerText(), /shutting down/i);
      await checkA11y(page, 'chat ended by SIGTERM');
      const exit = await server.exited;
      assert.equal(exit.code, 0);
      await page.close();
    } finally {
      await server.stop();
    }
  });
});
