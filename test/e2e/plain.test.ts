/**
 * Plain mode, loud on both sides, and only for pages that asked for it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { launchBrowser } from '../helpers/browser.ts';
import { startServerProcess, type ServerProcess } from '../helpers/process.ts';
import { chatLine, join, say, waitForState } from '../helpers/page.ts';
import { checkA11y } from '../helpers/a11y.ts';

let browser: Browser;
before(async () => {
  browser = await launchBrowser();
});
after(() => browser.close());

describe('plain mode', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServerProcess(['--plain']);
  });
  after(() => server.stop());

  it('is marked in red on the console at start and on every line', async () => {
    assert.ok(server.lines.some((line) => line.includes('PLAIN MODE')));
    const page = await browser.newPage();
    await join(page, server.url, { name: 'erin', plain: true });
    await waitForState(page, 'plain');
    await say(page, 'readable on the wire');
    const line = await server.waitForLine('erin: readable on the wire');
    assert.match(line, /^\[PLAIN\] /);
    await page.close();
  });

  it('shows a banner on the page for as long as it lasts, and chats both ways', async () => {
    const page = await browser.newPage();
    await join(page, server.url, { name: 'frank', plain: true });
    await waitForState(page, 'plain');
    assert.match(await page.locator('#plain-banner').innerText(), /PLAIN MODE/);
    server.type('hello in the clear');
    await chatLine(page, 'hello in the clear').waitFor();
    await checkA11y(page, 'plain chat with its banner');
    await say(page, 'exit');
    await waitForState(page, 'ended');
    await checkA11y(page, 'plain chat ended with EXIT');
    await page.close();
  });

  it('is refused by a page that did not opt in, with a clear reason', async () => {
    const page = await browser.newPage();
    await join(page, server.url, { name: 'grace' });
    await waitForState(page, 'ended');
    assert.match(await page.locator('#chat-ended').innerText(), /plain mode/i);
    assert.equal(await page.locator('#plain-banner').count(), 0);
    await checkA11y(page, 'chat ended: plain mode refused');
    await page.close();
  });
});
