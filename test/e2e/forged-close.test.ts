/**
 * A close frame forged on the path, against the real page in Chromium: `npm run server`, the mitm proxy in front of
 * it (its `close` command), the page opened through the proxy. No MAC covers a close frame, so the page shows a
 * disconnection, never an end: a forged 1000 only makes it reconnect; forged refusals carry their reason quoted,
 * neutralized and marked unverified, and after five in a row the page waits for its person, who reconnects.
 * Takes test-results/screenshots/forged-close.png.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { startMitm, type MitmProxy } from '../../tools/mitm.ts';
import { launchBrowser, screenshotPath } from '../helpers/browser.ts';
import { chatLine, join, say, waitForState } from '../helpers/page.ts';
import { checkA11y } from '../helpers/a11y.ts';
import { startServerProcess, type ServerProcess } from '../helpers/process.ts';

let browser: Browser;
let server: ServerProcess;
let mitm: MitmProxy;
const log: string[] = [];

before(async () => {
  browser = await launchBrowser();
  server = await startServerProcess();
  mitm = await startMitm({ target: server.url, port: 0, log: (line) => log.push(line), modulusLength: 2048 });
});
after(async () => {
  await mitm.close();
  await server.stop();
  await browser.close();
});

/** The chat log's system lines ("Reconnected: ..."), as the person reads them. */
function systemLine(page: Page, text: RegExp) {
  return page.locator('li').filter({ hasText: text });
}

describe('a close frame forged by someone on the path', () => {
  it('a forged 1000 "the operator ended the chat" is a disconnection: the page reconnects and chats on', async () => {
    const page = await browser.newPage();
    try {
      await join(page, mitm.url, { name: 'alice' });
      await waitForState(page, 'secure');
      mitm.forgeClose(1000, 'The server operator ended the chat (END)');
      await systemLine(page, /^Reconnected: secure again, session /)
        .first()
        .waitFor({ timeout: 15_000 });
      await waitForState(page, 'secure');
      assert.equal(await page.locator('#chat-ended').count(), 0, 'the chat did not end');
      await checkA11y(page, 'secure again after a forged close');
      await say(page, 'still here');
      await server.waitForLine(/alice: still here$/);
      await chatLine(page, 'still here').waitFor();
    } finally {
      await page.close();
    }
  });

  it('forged refusals show their reason neutralized and unverified; after five in a row the page waits for its person', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 700 } });
    try {
      await join(page, mitm.url, { name: 'bob' });
      await waitForState(page, 'secure');
      // This connection and the next five, each closed as soon as it opens, before any handshake.
      mitm.forgeClose(1008, 'HANDSHAKE_PLAIN_REFUSED: \u202etxt.exe', 5);
      await page.locator('#status[data-state="disconnected"][data-paused="true"]').waitFor({ timeout: 45_000 });
      const status = await page.locator('#status').innerText();
      assert.ok(!status.includes('\u202e'), `a raw U+202E reached the page: ${JSON.stringify(status)}`);
      assert.match(
        status,
        /Disconnected \(1008 policy violation; its close frame said .*HANDSHAKE_PLAIN_REFUSED: \\u202etxt\.exe.*, unverified\)/,
      );
      assert.match(status, /not retrying by itself after 5 refusals in a row/);
      assert.equal(await page.locator('#chat-ended').count(), 0, 'a close never ends the chat');
      await page.screenshot({ path: screenshotPath('forged-close.png') });
      await checkA11y(page, 'disconnected, waiting for its person');
      await page.locator('#retry-now').click();
      await waitForState(page, 'secure');
      await say(page, 'back again');
      await server.waitForLine(/bob: back again$/);
      assert.ok(
        log.some((l) =>
          l.includes('FORGED CLOSE to the page: 1008 policy violation "HANDSHAKE_PLAIN_REFUSED: \\u202etxt.exe"'),
        ),
        log.join('\n'),
      );
    } finally {
      await page.close();
    }
  });
});
