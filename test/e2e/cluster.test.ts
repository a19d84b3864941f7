/**
 * Many relays, one chat, in real Chromium tabs: three relay processes on one real Redis (persistence on, as a
 * deployment would have it), a tab on each, and their consoles. Everyone sees everyone in one order; /who, /msg
 * and /kick cross relays; a tab whose socket drops comes back through another relay and resumes its place; a
 * relay killed with SIGKILL and started again, and Redis killed and started again, each while lines flow: no line
 * lost, none doubled, one order, and the killed relay's tab resumes (it is not a new participant).
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
import { startRedis, type RedisServer } from '../helpers/redis.ts';

/** Every line a page shows, as its text, in the order shown. */
async function shown(page: Page): Promise<string[]> {
  return page.locator('li[data-testid="chat-line"]').evaluateAll((items) => items.map((li) => li.textContent ?? ''));
}

interface Line {
  n: number | undefined;
  text: string;
  late: boolean;
}

/** The chat lines a tab shows, top to bottom, with their numbers and whether they came late. */
async function numbered(page: Page): Promise<Line[]> {
  return page.locator('li[data-testid="chat-line"]').evaluateAll((items) =>
    items.map((li) => ({
      n: li.getAttribute('data-n') === null ? undefined : Number(li.getAttribute('data-n')),
      text: li.querySelector('.text')?.textContent ?? '',
      late: li.getAttribute('data-late') === 'true',
    })),
  );
}

/** Each line once, numbered, in number order: "exactly once, in the chat's order" on one tab. */
function assertChatOrder(lines: Line[], who: string): void {
  const texts = lines.map((l) => l.text);
  assert.equal(new Set(texts).size, texts.length, `${who} shows a line twice: ${JSON.stringify(texts)}`);
  const numbers = lines.map((l) => l.n);
  assert.ok(
    numbers.every((n) => n !== undefined),
    `${who} has a line without its number`,
  );
  assert.deepEqual(
    numbers,
    [...(numbers as number[])].sort((a, b) => a - b),
    `${who}: out of order`,
  );
}

/** The system line a tab shows when it came back into its place (not as a new participant). */
function backInTheChat(page: Page, name: string) {
  return page.locator('li[data-testid="system-line"]').filter({ hasText: `Back in the chat as ${name}.` });
}

/** The lines of `page` that hold one of `texts`, as those texts, in the order shown. */
async function order(page: Page, texts: readonly string[]): Promise<string[]> {
  const all = await shown(page);
  return all.flatMap((line) => texts.filter((t) => line.includes(t)));
}

describe('three relays, a tab on each, one Redis', () => {
  let browser: Browser;
  let redis: RedisServer;
  let dir: string;
  const ports: number[] = [];
  const relays: ServerProcess[] = [];
  const names = ['ann', 'ben', 'cat'];
  const pages: Page[] = [];
  /** Between a tab and relay 0, to cut its socket and send it back to another relay. */
  let proxy: CutProxy;

  const startRelay = (i: number) =>
    startServerProcess(
      ['--redis', redis.url, '--presence-interval', '0', '--allow-origin', `http://127.0.0.1:${proxy.port}`],
      { identityDir: dir, port: ports[i]! },
    );

  before(async () => {
    redis = await startRedis({ persistence: 'aof-always' });
    dir = await mkdtemp(joinPath(tmpdir(), 'wirechat-cluster-e2e-'));
    for (let i = 0; i < 3; i++) ports.push(await freePort());
    proxy = await startCutProxy({ host: '127.0.0.1', port: ports[0]! });
    relays.push(await startRelay(0));
    relays.push(...(await Promise.all([startRelay(1), startRelay(2)])));
    browser = await launchBrowser();
    for (const [i, name] of names.entries()) {
      const page = await (await browser.newContext()).newPage();
      await join(page, relays[i]!.url, { name });
      await waitForState(page, 'secure');
      await relays[i]!.waitForLine(`${name} joined (secure`);
      pages.push(page);
    }
  });
  after(async () => {
    await browser?.close();
    await Promise.all(relays.map((r) => r.stop()));
    await proxy?.close();
    await redis?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('shows every line of every tab and console to everyone, in one order', async () => {
    const texts: string[] = [];
    for (let round = 1; round <= 2; round++) {
      for (const [i, page] of pages.entries()) {
        await say(page, `${names[i]} says ${round}`);
        texts.push(`${names[i]} says ${round}`);
      }
      relays[round]!.type(`console ${round} says ${round}`);
      texts.push(`console ${round} says ${round}`);
    }
    for (const page of pages) for (const text of texts) await chatLine(page, text).first().waitFor({ timeout: 15_000 });
    // A tab shows its own line where it typed it; everyone else's in the chat's order, the same on every tab.
    const others = async (i: number, j: number) =>
      (await order(pages[i]!, texts)).filter((t) => !t.startsWith(names[i]!) && !t.startsWith(names[j]!));
    assert.deepEqual(await others(0, 1), await others(1, 0));
    assert.deepEqual(await others(1, 2), await others(2, 1));
    assert.deepEqual(await others(0, 2), await others(2, 0));
    for (const page of pages)
      assert.deepEqual([...(await order(page, texts))].sort(), [...texts].sort(), 'every line once');
    // Every console prints every tab's line, in the chat's order.
    for (const relay of relays) {
      for (const name of names) await relay.waitForLine(`${name}: ${name} says 2`);
      const printed = relay.lines.flatMap((l) => texts.filter((t) => l.endsWith(`: ${t}`) && !t.startsWith('console')));
      assert.equal(printed.length, 6, 'each tab line printed once');
      assert.equal(new Set(printed).size, 6, 'each tab line printed');
    }
    const consoleOrder = (relay: ServerProcess) =>
      relay.lines.flatMap((l) => texts.filter((t) => l.endsWith(`: ${t}`) && !t.startsWith('console')));
    assert.deepEqual(consoleOrder(relays[0]!), consoleOrder(relays[1]!));
    assert.deepEqual(consoleOrder(relays[1]!), consoleOrder(relays[2]!));
    await checkA11y(pages[1]!, 'a tab of one of three relays');
  });

  it('lists everyone in /who under their relay, and sends /msg across relays to its one tab', async () => {
    relays[0]!.type('/who');
    await relays[0]!.waitForLine('3 in the chat, on 3 relays:');
    await relays[0]!.waitForLine(/\(this relay\): ann$/);
    relays[0]!.type('/msg cat only cat reads this');
    await relays[0]!.waitForLine('you -> cat (on another relay): only cat reads this');
    await chatLine(pages[2]!, 'only cat reads this').waitFor();
    relays[0]!.type('after the whisper');
    for (const page of pages.slice(1)) await chatLine(page, 'after the whisper').waitFor();
    for (const page of pages.slice(0, 2)) assert.equal(await chatLine(page, 'only cat reads this').count(), 0);
  });

  it('resumes a tab whose socket dropped on another relay: what it missed once, in order; its resent line once', async () => {
    const dot = await (await browser.newContext()).newPage();
    await join(dot, proxy.url, { name: 'dot' });
    await waitForState(dot, 'secure');
    await relays[0]!.waitForLine('dot joined (secure');
    await say(dot, 'dot before the cut');
    await chatLine(pages[1]!, 'dot before the cut').waitFor({ timeout: 15_000 });
    // A line on its way as the link dies: relay 0 may or may not have it; the page cannot know.
    await say(dot, 'dot in flight at the cut');
    // The link dies (relay 0 does not notice), and there is no way back until the others have said their lines:
    // otherwise the page's own retry (0.5 s) could bring dot back before the last of them, live, not missed.
    proxy.retarget(undefined);
    proxy.cut();
    await dot.locator('#status[data-state="disconnected"], #status[data-state="connecting"]').first().waitFor();
    const missed = ['ann while dot is away', 'cat while dot is away', 'console 2 while dot is away'];
    await say(pages[0]!, missed[0]!);
    await chatLine(pages[1]!, missed[0]!).waitFor({ timeout: 15_000 });
    await say(pages[2]!, missed[1]!);
    await chatLine(pages[1]!, missed[1]!).waitFor({ timeout: 15_000 });
    relays[2]!.type(missed[2]!);
    await chatLine(pages[1]!, missed[2]!).waitFor({ timeout: 15_000 });
    await say(dot, 'dot typed while away');
    // The way back leads to relay 1.
    proxy.retarget({ host: '127.0.0.1', port: ports[1]! });

    await waitForState(dot, 'secure', 30_000);
    await backInTheChat(dot, 'dot').waitFor({ timeout: 15_000 });
    for (const text of ['dot in flight at the cut', 'dot typed while away'])
      await dot.locator('li[data-own][data-status="delivered"]').filter({ hasText: text }).waitFor({ timeout: 15_000 });
    for (const page of pages)
      for (const text of ['dot in flight at the cut', 'dot typed while away'])
        await chatLine(page, text).waitFor({ timeout: 15_000 });
    const lines = await numbered(dot);
    assertChatOrder(lines, 'dot');
    const since = lines.slice(lines.findIndex((l) => l.text === 'dot before the cut'));
    assert.deepEqual(
      since.filter((l) => l.late).map((l) => l.text),
      missed,
      'the lines said while dot was away, and only they, are marked late, in the chat order',
    );
    for (const [i, page] of pages.entries()) {
      const theirs = (await numbered(page)).map((l) => l.text);
      for (const text of ['dot before the cut', 'dot in flight at the cut', 'dot typed while away'])
        assert.equal(theirs.filter((t) => t === text).length, 1, `${names[i]} shows ${text} once`);
    }
    // Relay 0 closed its stale connection of dot quietly: dot stays in the chat, on relay 1.
    await relays[0]!.waitForLine(/dot its place was resumed on a new connection/);
    relays[0]!.type('/who');
    await relays[0]!.waitForLine(new RegExp(`:${ports[1]}: .*\\bdot\\b`));
    await checkA11y(dot, 'a tab resumed on another relay');
    await dot.setViewportSize({ width: 900, height: 760 });
    await dot.screenshot({ path: screenshotPath('cluster-resume.png') });
    await dot.close();
  });

  it('loses and doubles nothing when a relay is killed (SIGKILL) and started again while lines flow', async () => {
    const flow: string[] = [];
    const talk = async (from: number, count: number, tag: string) => {
      for (let k = 1; k <= count; k++) {
        const text = `${names[from]} ${tag} ${k}`;
        flow.push(text);
        await say(pages[from]!, text);
      }
    };
    await talk(0, 3, 'before');
    relays[2]!.signalServer('SIGKILL');
    await relays[2]!.exited;
    await talk(1, 3, 'meanwhile');
    // cat's tab keeps what its person types while its relay is down, and sends it once it is back.
    await pages[2]!.locator('#status[data-state="disconnected"], #status[data-state="connecting"]').first().waitFor();
    await say(pages[2]!, 'cat typed while its relay was down');
    await talk(0, 2, 'meanwhile');
    relays[2] = await startRelay(2);
    await waitForState(pages[2]!, 'secure', 30_000);
    await talk(1, 2, 'after');
    for (const page of pages.slice(0, 2))
      await chatLine(page, 'cat typed while its relay was down').waitFor({ timeout: 15_000 });
    await chatLine(pages[0]!, 'ben after 2').waitFor({ timeout: 15_000 });
    await chatLine(pages[1]!, 'ben after 2').waitFor({ timeout: 15_000 });
    for (const page of pages.slice(0, 2)) {
      const seen = await order(page, [...flow, 'cat typed while its relay was down']);
      assert.equal(seen.length, flow.length + 1, `every line once: ${seen.join(' | ')}`);
    }
    assert.deepEqual(
      (await order(pages[0]!, flow)).filter((t) => t.startsWith('ben')),
      flow.filter((t) => t.startsWith('ben')),
      "ann has ben's lines once, in his order",
    );
    await pages[2]!
      .locator('li[data-own][data-status="delivered"]')
      .filter({ hasText: 'cat typed while its relay was down' })
      .waitFor();
    assert.equal(await chatLine(pages[2]!, 'ben after 2').count(), 1, 'the restarted relay delivers to its tab again');
    // cat resumed its place (it is not a new participant): the lines said while its relay was down came late,
    // each once, in the chat's order, with everything before them.
    await backInTheChat(pages[2]!, 'cat').waitFor({ timeout: 15_000 });
    assert.equal(
      await pages[2]!.locator('li[data-testid="system-line"]').filter({ hasText: 'new participant' }).count(),
      0,
      'cat did not rejoin as a new participant',
    );
    for (const text of flow) await chatLine(pages[2]!, text).first().waitFor({ timeout: 15_000 });
    const catLines = await numbered(pages[2]!);
    assertChatOrder(catLines, 'cat');
    const catSeen = await order(pages[2]!, [...flow, 'cat typed while its relay was down']);
    assert.deepEqual(
      [...catSeen].sort(),
      [...flow, 'cat typed while its relay was down'].sort(),
      'cat: every line once',
    );
    const late = catLines.filter((l) => l.late).map((l) => l.text);
    for (const text of flow.filter((t) => t.includes('meanwhile')))
      assert.ok(late.includes(text), `cat got "${text}", said while its relay was down, marked late`);
  });

  it('loses and doubles nothing when Redis is killed and started again while lines flow', async () => {
    const flow: string[] = [];
    for (const [i, page] of pages.entries()) {
      flow.push(`${names[i]} before redis dies`);
      await say(page, flow.at(-1)!);
    }
    for (const page of pages) for (const text of flow) await chatLine(page, text).first().waitFor({ timeout: 15_000 });
    await redis.kill();
    for (const relay of relays)
      await relay.waitForLine(/lost Redis at redis:\/\/127\.0\.0\.1:\d+ .*keeps serving its own tabs/);
    // Typed while Redis is away: each relay keeps them, in order, and sends them when Redis is back.
    for (const [i, page] of pages.entries()) {
      flow.push(`${names[i]} while redis is away`);
      await say(page, flow.at(-1)!);
    }
    relays[1]!.type('console while redis is away');
    flow.push('console while redis is away');
    await redis.restart();
    for (const relay of relays) await relay.waitForLine(/Redis is back after \d+\.\d s/);
    for (const [i, page] of pages.entries()) {
      flow.push(`${names[i]} after redis is back`);
      await say(page, flow.at(-1)!);
    }
    for (const page of pages) for (const text of flow) await chatLine(page, text).first().waitFor({ timeout: 20_000 });
    for (const [i, page] of pages.entries()) {
      const seen = await order(page, flow);
      assert.deepEqual([...seen].sort(), [...flow].sort(), `${names[i]} has every line once`);
      await page
        .locator('li[data-own][data-status="delivered"]')
        .filter({ hasText: `${names[i]} while redis is away` })
        .waitFor();
    }
    const others = async (i: number, j: number) =>
      (await order(pages[i]!, flow)).filter((t) => !t.startsWith(names[i]!) && !t.startsWith(names[j]!));
    assert.deepEqual(await others(0, 1), await others(1, 0));
    assert.deepEqual(await others(1, 2), await others(2, 1));
  });

  it('kicks a tab on another relay', async () => {
    relays[2]!.type('/kick ben');
    await waitForState(pages[1]!, 'ended');
    assert.match(await pages[1]!.locator('#end-reason').innerText(), /removed you from the chat/);
    await checkA11y(pages[1]!, 'kicked by the console of another relay');
    await relays[0]!.waitForLine('ben was removed by the server operator (on another relay)');
  });
});
