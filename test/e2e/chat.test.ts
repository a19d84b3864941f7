/**
 * The secure chat as a person has it: `npm run server` in a terminal (its real console on stdin and stdout) and
 * the page in Debian's Chromium, chatting both ways, then ending from either side.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { launchBrowser, screenshotPath } from '../helpers/browser.ts';
import { startServerProcess, type ServerProcess } from '../helpers/process.ts';
import { chatLine, join, say, waitForState } from '../helpers/page.ts';
import { checkA11y } from '../helpers/a11y.ts';

let browser: Browser;
before(async () => {
  browser = await launchBrowser();
});
after(() => browser.close());

describe('secure chat between a tab and the console', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServerProcess();
  });
  after(() => server.stop());

  it('chats both ways, shows the same fingerprint and session code as the console, and ends with EXIT', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await join(page, server.url, { name: 'alice' });
    await waitForState(page, 'secure');

    const shown = (await page.locator('#fingerprint').innerText()).replace(/\s+/g, ' ').trim();
    assert.equal(shown, server.fingerprint, 'the page shows the fingerprint the console printed');
    const code = (await page.locator('#session-code').innerText()).trim();
    await server.waitForLine(`alice joined (secure, session code ${code})`);
    // The panel names the steps as the inspector does (web/steps.ts): the welcome, not "keys", is what came.
    for (const step of [
      'Key pair made',
      'Public key sent',
      'Welcome received',
      'Signature verified',
      'Keys unwrapped',
      'Secure',
    ]) {
      assert.match(await page.locator('#handshake-steps').innerText(), new RegExp(step));
    }

    // A line of spaces is refused by the page: the reason under the field, the line still in it, nothing sent.
    await say(page, '   ');
    assert.equal(await page.locator('#chat-error').innerText(), 'an empty line is not sent');
    assert.equal(await page.locator('#chat-input').inputValue(), '   ');
    assert.equal(await page.locator('#chat-input').getAttribute('aria-describedby'), 'chat-hint chat-error');
    await checkA11y(page, 'secure chat, a line refused');

    await say(page, 'hello from the page');
    await server.waitForLine(/^\[\d\d:\d\d:\d\d\] alice: hello from the page$/);
    await page.locator('li[data-own][data-status="delivered"]').filter({ hasText: 'hello from the page' }).waitFor();
    assert.equal(await page.locator('#chat-input').inputValue(), '', 'a line taken empties the field');
    assert.equal(await page.locator('#chat-error').count(), 0, 'and takes the last refusal away');

    server.type('hello from the console');
    await chatLine(page, 'hello from the console').waitFor();
    assert.equal(await chatLine(page, 'hello from the console').getAttribute('data-from'), 'console');

    // Text is text: markup typed in the console is shown as typed and runs nothing.
    let dialogs = 0;
    page.on('dialog', (dialog) => {
      dialogs++;
      void dialog.dismiss();
    });
    server.type('<img src=x onerror=alert(1)>');
    await chatLine(page, '<img src=x onerror=alert(1)>').waitFor();
    assert.equal(await page.locator('li[data-testid="chat-line"] img').count(), 0);
    assert.equal(dialogs, 0);

    // What a line hides is shown, on the console and the page alike: "AB" in tag characters, a zero-width space.
    await say(page, 'hidden\u{e0041}\u{e0042} zero\u200bwidth');
    await server.waitForLine(/^\[\d\d:\d\d:\d\d\] alice: hidden\\u\{e0041\}\\u\{e0042\} zero\\u200bwidth$/);
    await chatLine(page, 'hidden\\u{e0041}\\u{e0042} zero\\u200bwidth').waitFor();

    await page.screenshot({ path: screenshotPath('chat.png') });
    await checkA11y(page, 'secure chat, lines both ways');

    await say(page, 'exit');
    await server.waitForLine(/\* alice left$/);
    await waitForState(page, 'ended');
    assert.match(await page.locator('#end-reason').innerText(), /EXIT/);
    await page.locator('#new-chat').waitFor();
    await checkA11y(page, 'chat ended with EXIT');
    await page.close();
  });

  it('keeps the fingerprint pinned across visits and starts a new chat from the button', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await join(page, server.url, { name: 'bob' });
    await waitForState(page, 'secure');
    await say(page, 'END');
    await waitForState(page, 'ended');
    await page.locator('#new-chat').click();
    await page.locator('#name-input').waitFor();
    await checkA11y(page, 'join form after a chat');
    await page.locator('#name-input').press('Enter');
    await waitForState(page, 'secure');
    assert.doesNotMatch(await page.locator('#trust-note').innerText(), /First time/i);
    await context.close();
  });
});

describe('names: the page checks early, the server decides', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServerProcess(['--name', 'teacher']);
  });
  after(() => server.stop());

  it('refuses an invisible name at once, sends a refused one back to the name field, and joins with a space', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    // The page's own check: no connection is made for a name with a zero-width space in it.
    await join(page, server.url, { name: 'console\u200b' });
    assert.equal(
      await page.locator('#name-error').innerText(),
      'Pick another name: a name cannot contain an invisible character (U+200B).',
    );
    assert.equal(await page.locator('#name-input').getAttribute('aria-invalid'), 'true');
    await checkA11y(page, 'join form, name refused by the page');

    // The console's own --name is only known to the server: it refuses the hello with 4100, and the page is back
    // at the name field with the reason, the name still there to change.
    await page.locator('#name-input').fill('Teacher');
    await page.locator('#name-input').press('Enter');
    await page.locator('#name-error').filter({ hasText: 'the server refused' }).waitFor();
    assert.equal(
      await page.locator('#name-error').innerText(),
      'Pick another name: the server refused this one ("teacher" is reserved).',
    );
    assert.equal(await page.locator('#name-input').inputValue(), 'Teacher');
    await server.waitForLine(/! connection #\d+ dropped: NAME_REFUSED: "teacher" is reserved/);
    await page.screenshot({ path: screenshotPath('name-refused.png') });
    await checkA11y(page, 'join form, name refused by the server');

    await page.locator('#name-input').fill('alice\u00a0smith');
    await page.locator('#name-input').press('Enter');
    await waitForState(page, 'secure');
    await server.waitForLine(/\* "alice smith" joined \(secure/);
    server.type('/msg "alice smith" only you');
    await chatLine(page, 'only you').waitFor();
    await checkA11y(page, 'secure chat, a direct message');
    await page.close();
  });
});
