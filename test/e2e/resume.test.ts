/**
 * Nothing lost (issue 12), in real Chromium tabs against `npm run server`:
 * - a tab whose socket is cut while the server stays up (memory log, no --history) comes back, gets every line
 *   said meanwhile once, in its place, marked "while you were away", and its own line caught in flight at the
 *   cut is delivered exactly once;
 * - three tabs and the console, the server SIGKILLed mid-chat with lines in flight both ways, restarted on the
 *   same port with the same --history file while the console and one tab type and the others still reconnect:
 *   every tab ends with every line exactly once, in the chat's order.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { checkA11y } from '../helpers/a11y.ts';
import { launchBrowser, screenshotPath } from '../helpers/browser.ts';
import { startCutProxy, type CutProxy } from '../helpers/cut-proxy.ts';
import { chatLine, join, say, waitForState } from '../helpers/page.ts';
import { freePort, startServerProcess, type ServerProcess } from '../helpers/process.ts';

interface Shown {
  n: number | undefined;
  text: string;
  late: boolean;
  status: string;
}

/** The chat lines a tab shows, top to bottom. */
async function shown(page: Page): Promise<Shown[]> {
  return page.locator('li[data-testid="chat-line"]').evaluateAll((items) =>
    items.map((li) => ({
      n: li.getAttribute('data-n') === null ? undefined : Number(li.getAttribute('data-n')),
      text: li.querySelector('.text')?.textContent ?? '',
      late: li.getAttribute('data-late') === 'true',
      status: li.getAttribute('data-status') ?? '',
    })),
  );
}

/** Each line once, numbered, in number order: what "in the chat's order, exactly once" means on one tab. */
function assertChatOrder(lines: Shown[], who: string): void {
  const texts = lines.map((l) => l.text);
  assert.equal(new Set(texts).size, texts.length, `${who} shows a line twice: ${JSON.stringify(texts)}`);
  const numbers = lines.map((l) => l.n);
  assert.ok(
    numbers.every((n) => n !== undefined),
    `${who} has a line without its number: ${JSON.stringify(lines)}`,
  );
  const sorted = [...(numbers as number[])].sort((a, b) => a - b);
  assert.deepEqual(numbers, sorted, `${who} shows lines out of the chat's order: ${JSON.stringify(lines)}`);
  assert.equal(new Set(numbers).size, numbers.length, `${who} shows two lines under one number`);
}

async function waitForAll(page: Page, texts: readonly string[], timeout = 30_000): Promise<void> {
  for (const text of texts) await chatLine(page, text).first().waitFor({ timeout });
}

describe('a tab whose socket is cut while the server stays up', () => {
  let browser: Browser;
  let identityDir: string;
  let server: ServerProcess;
  let proxy: CutProxy;

  before(async () => {
    browser = await launchBrowser();
    identityDir = await mkdtemp(joinPath(tmpdir(), 'wirechat-resume-e2e-'));
    const port = await freePort();
    proxy = await startCutProxy({ host: '127.0.0.1', port });
    server = await startServerProcess(['--allow-origin', `http://127.0.0.1:${proxy.port}`], { identityDir, port });
  });
  after(async () => {
    await browser.close();
    await server.stop();
    await proxy.close();
    await rm(identityDir, { recursive: true, force: true });
  });

  it('gets what it missed exactly once, in its place, and its line in flight is delivered once', async () => {
    const ann = await (await browser.newContext()).newPage();
    const ben = await (await browser.newContext()).newPage();
    await join(ann, proxy.url, { name: 'ann' });
    await waitForState(ann, 'secure');
    await join(ben, server.url, { name: 'ben' });
    await waitForState(ben, 'secure');
    await server.waitForLine('ben joined (secure');
    await say(ann, 'before the cut');
    await chatLine(ben, 'before the cut').waitFor();

    // A line on its way as the link dies: the server may or may not have it; the page cannot know.
    await say(ann, 'in flight at the cut');
    proxy.cut();
    await ann.locator('#status[data-state="disconnected"], #status[data-state="connecting"]').first().waitFor();
    const missed = ['ben while ann was away 1', 'ben while ann was away 2', 'console while ann was away'];
    await say(ben, missed[0]!);
    await say(ben, missed[1]!);
    server.type(missed[2]!);
    await chatLine(ben, missed[2]!).waitFor();
    await say(ann, 'typed by ann while away');

    await waitForState(ann, 'secure', 30_000);
    await waitForAll(ann, missed);
    await ann
      .locator('li[data-own][data-status="delivered"]')
      .filter({ hasText: 'typed by ann while away' })
      .waitFor({ timeout: 15_000 });
    await ann
      .locator('li[data-own][data-status="delivered"]')
      .filter({ hasText: 'in flight at the cut' })
      .waitFor({ timeout: 15_000 });
    await waitForAll(ben, ['in flight at the cut', 'typed by ann while away']);

    const annLines = await shown(ann);
    assertChatOrder(annLines, 'ann');
    assert.deepEqual(
      annLines.filter((l) => l.late).map((l) => l.text),
      missed,
      'the lines said while ann was away, and only they, are marked late',
    );
    const benLines = await shown(ben);
    assertChatOrder(benLines, 'ben');
    assert.deepEqual(
      annLines.map((l) => l.text),
      benLines.map((l) => l.text),
      'both tabs show the same lines in the same order',
    );
    await ann.locator('li[data-testid="system-line"]').filter({ hasText: 'Back in the chat as ann' }).waitFor();
    await checkA11y(ann, 'lines received while you were away');
    await ann.setViewportSize({ width: 900, height: 760 });
    await ann.screenshot({ path: screenshotPath('resume.png') });
  });
});

describe('three tabs and the console across a SIGKILL, with --history', () => {
  let browser: Browser;
  let identityDir: string;
  let server: ServerProcess;
  let port: number;
  const pages = new Map<string, Page>();
  const names = ['ann', 'ben', 'cat'];

  before(async () => {
    browser = await launchBrowser();
    identityDir = await mkdtemp(joinPath(tmpdir(), 'wirechat-resume-kill-'));
    port = await freePort();
  });
  after(async () => {
    await browser.close();
    await server.stop();
    await rm(identityDir, { recursive: true, force: true });
  });

  it('every tab shows every line exactly once, in chat order, and nothing delivered is missing', async () => {
    const history = ['--history', joinPath(identityDir, 'chat.db')];
    server = await startServerProcess(history, { identityDir, port });
    await server.waitForLine(/chat log: SQLite .*chat\.db, holding 0 entries/);
    for (const name of names) {
      const page = await (await browser.newContext()).newPage();
      await join(page, server.url, { name });
      await waitForState(page, 'secure');
      await server.waitForLine(`${name} joined (secure`);
      pages.set(name, page);
    }
    const before = names.flatMap((name) => [1, 2].map((i) => `${name} before ${i}`));
    for (let i = 1; i <= 2; i++) for (const name of names) await say(pages.get(name)!, `${name} before ${i}`);
    server.type('console before');
    for (const page of pages.values()) await waitForAll(page, [...before, 'console before']);

    // Lines in flight both ways as the server dies: each ends up delivered everywhere, or nowhere.
    await say(pages.get('ann')!, 'ann in flight');
    server.type('console in flight');
    server.signal('SIGKILL');
    await server.exited;
    for (const page of pages.values())
      await page.locator('#status[data-state="disconnected"], #status[data-state="connecting"]').first().waitFor();
    await say(pages.get('ann')!, 'ann while the server was down');

    server = await startServerProcess(history, { identityDir, port });
    // Typed at once, while the tabs are still reconnecting.
    server.type('console right after the restart');
    await waitForState(pages.get('ben')!, 'secure', 30_000);
    await say(pages.get('ben')!, 'ben right after the restart');
    for (const page of pages.values()) await waitForState(page, 'secure', 30_000);
    await say(pages.get('cat')!, 'cat once everyone is back');

    const expected = [
      ...before,
      'console before',
      'ann while the server was down',
      'console right after the restart',
      'ben right after the restart',
      'cat once everyone is back',
    ];
    for (const page of pages.values()) await waitForAll(page, expected);
    for (const name of names) {
      await pages
        .get(name)!
        .locator('li[data-own="true"]:not([data-status="delivered"])')
        .first()
        .waitFor({ state: 'detached', timeout: 15_000 });
    }
    const seen = new Map<string, Shown[]>();
    for (const [name, page] of pages) {
      const lines = await shown(page);
      assertChatOrder(lines, name);
      seen.set(name, lines);
    }
    const reference = seen.get('ann')!.map((l) => `${l.n} ${l.text}`);
    for (const [name, lines] of seen) {
      assert.deepEqual(
        lines.map((l) => `${l.n} ${l.text}`),
        reference,
        `${name} shows the same lines, numbers and order as ann`,
      );
    }
    // The line ann sent as the server died: delivered exactly once, whichever side of the crash it was stored on.
    assert.equal(reference.filter((l) => l.endsWith(' ann in flight')).length, 1, 'ann in flight is in the chat once');
    // The console's line in flight is either in every tab (the log had it) or in none.
    const consoleInFlight = reference.some((l) => l.endsWith(' console in flight'));
    await checkA11y(pages.get('ben')!, 'after a server restart with --history, lines received late');
    // The console prints the log as the chat had it, and agrees with the tabs about the line in flight.
    server.type('/history 50');
    await server.waitForLine(/#\d+ cat: cat once everyone is back/);
    const printed = server.lines.filter((l) => / #\d+ /.test(l));
    assert.equal(
      printed.some((l) => l.endsWith('console: console in flight')),
      consoleInFlight,
      'the console and the tabs agree on the line in flight',
    );
    for (const line of reference) {
      const [n, ...words] = line.split(' ');
      assert.ok(
        printed.some((l) => l.includes(`#${n} `) && l.endsWith(words.join(' '))),
        `/history shows #${n} ${words.join(' ')}`,
      );
    }
  });
});
