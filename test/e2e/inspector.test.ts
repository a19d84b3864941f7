/**
 * The wire inspector in Debian's Chromium against `npm run server`: every frame listed as Chromium's own network
 * layer saw it (direction, size), the hello's public key and a record's Fernet fields equal to the bytes taken
 * from those frames here, the decrypted text beside them and "verified", copying, the explanations, text never
 * rendered as markup, hundreds of frames, and, through `npm run mitm`, the frame an attack broke marked failed.
 * Takes docs/img/inspector.png for the README.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Locator, Page } from 'playwright-core';
import { fromBase64Url, toHex } from '../../shared/bytes.ts';
import { parseToken } from '../../shared/fernet.ts';
import { startMitm } from '../../tools/mitm.ts';
import { launchBrowser, screenshotPath } from '../helpers/browser.ts';
import { chatLine, join, say, waitForState } from '../helpers/page.ts';
import { checkA11y } from '../helpers/a11y.ts';
import { startServerProcess, type ServerProcess } from '../helpers/process.ts';

let browser: Browser;
before(async () => {
  browser = await launchBrowser();
});
after(() => browser.close());

interface Seen {
  direction: 'out' | 'in';
  payload: string;
}

/** Every WebSocket text frame as Chromium sent or received it, in order: independent of the page's own log. */
function networkFrames(page: Page): Seen[] {
  const seen: Seen[] = [];
  page.on('websocket', (ws) => {
    ws.on('framesent', ({ payload }) => seen.push({ direction: 'out', payload: String(payload) }));
    ws.on('framereceived', ({ payload }) => seen.push({ direction: 'in', payload: String(payload) }));
  });
  return seen;
}

async function until(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const frameRows = (page: Page) => page.locator('li[data-testid="wire-frame"]');
const field = (frame: Locator, key: string) => frame.locator(`[data-field="${key}"]`);
const valueOf = (frame: Locator, key: string) => field(frame, key).locator('.value').innerText();

async function openInspector(page: Page): Promise<void> {
  const toggle = page.getByRole('button', { name: 'Wire inspector' });
  await toggle.focus();
  await page.keyboard.press('Enter');
  assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
  await page.locator('#wire-frames').waitFor();
}

/** Opens a frame (its <details>) and waits for it to be taken apart. */
async function open(frame: Locator): Promise<void> {
  await frame.locator('summary').click();
  await frame.locator('wc-frame [data-field]').first().waitFor();
}

/** The network frames of one direction, as the inspector should list them. */
function listedAs(seen: Seen[], direction: 'out' | 'in') {
  return seen
    .filter((s) => s.direction === direction)
    .map((s) => ({ type: JSON.parse(s.payload).type as string, bytes: Buffer.byteLength(s.payload) }));
}

describe('the wire inspector', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServerProcess();
  });
  after(() => server.stop());

  it('lists every frame as it crossed the wire and takes the hello and the records apart', async () => {
    const context = await browser.newContext({
      viewport: { width: 1280, height: 800 },
      permissions: ['clipboard-read', 'clipboard-write'],
    });
    const page = await context.newPage();
    const seen = networkFrames(page);
    let dialogs = 0;
    page.on('dialog', (dialog) => {
      dialogs++;
      void dialog.dismiss();
    });
    await join(page, server.url, { name: 'alice' });
    await waitForState(page, 'secure');

    // Closed at first; a labelled button opens it from the keyboard.
    assert.equal(await page.locator('#inspector-toggle').getAttribute('aria-expanded'), 'false');
    assert.equal(await page.locator('#wire-frames').count(), 0);
    await openInspector(page);

    await say(page, 'hello from the page');
    await server.waitForLine(/alice: hello from the page$/);
    server.type('hello from the console');
    await chatLine(page, 'hello from the console').waitFor();
    const rows = frameRows(page);
    // Hello, welcome, the resume seat (docs/protocol.md 9.1), the page's line, its receipt, the console's line.
    await until(async () => seen.length === 6 && (await rows.count()) === 6, 'six frames listed');

    // The list is the network's: per direction, the same frames in the same order and of the same size.
    const listed = await rows.evaluateAll((lis) =>
      lis.map((li) => ({
        direction: li.getAttribute('data-direction'),
        type: li.getAttribute('data-type'),
        bytes: Number(li.querySelector('.size')!.getAttribute('data-bytes')),
        size: li.querySelector('.size')!.textContent,
        route: li.querySelector('.route')!.textContent,
        arrow: li.querySelector('.arrow')!.textContent,
        time: li.querySelector('time')!.textContent,
      })),
    );
    for (const direction of ['out', 'in'] as const) {
      assert.deepEqual(
        listed.filter((l) => l.direction === direction).map(({ type, bytes }) => ({ type, bytes })),
        listedAs(seen, direction),
      );
    }
    assert.deepEqual(
      listed.map((l) => `${l.arrow} ${l.route} ${l.type}`),
      [
        '→ page → server hello',
        '← server → page welcome',
        '← server → page record',
        '→ page → server record',
        '← server → page record',
        '← server → page record',
      ],
    );
    for (const l of listed) {
      assert.equal(l.size, `${l.bytes} B`);
      assert.match(l.time ?? '', /^\d\d:\d\d:\d\d\.\d{3}$/);
    }

    // The console's line: its record taken apart, field by field equal to the token on the wire.
    const record = rows.filter({ hasText: '“hello from the console”' });
    assert.equal(await record.getAttribute('data-direction'), 'in');
    assert.equal(await record.getAttribute('data-verdict'), 'verified');
    const onWire = JSON.parse(seen.filter((s) => s.direction === 'in')[3]!.payload);
    const token = parseToken(onWire.token);
    await open(record);
    assert.equal(await valueOf(record, 'version'), '0x80');
    assert.equal(
      await valueOf(record, 'timestamp'),
      `${new Date(token.timestamp * 1000).toISOString().slice(0, 19).replace('T', ' ')} UTC`,
    );
    assert.ok(Math.abs(token.timestamp * 1000 - Date.now()) < 120_000, 'stamped just now');
    assert.equal(await valueOf(record, 'iv'), toHex(token.iv));
    await field(record, 'ciphertext').locator('[data-testid="show-all"]').click();
    assert.equal(await valueOf(record, 'ciphertext'), toHex(token.ciphertext));
    assert.equal(await valueOf(record, 'hmac'), toHex(token.hmac));
    assert.equal(await valueOf(record, 'mac'), toHex(fromBase64Url(onWire.mac)));
    assert.equal(await valueOf(record, 'seq'), String(onWire.seq));
    // Beside them, what the page decrypted, and the checks it passed.
    assert.equal(await record.locator('.inside-label').innerText(), 'DECRYPTED BY THIS PAGE');
    assert.equal(await record.locator('#inside-text').innerText(), 'hello from the console');
    assert.match(await record.locator('.inside .check').innerText(), /✓ verified/);
    assert.equal(await field(record, 'mac').locator('.check').getAttribute('data-verdict'), 'verified');
    assert.equal(await field(record, 'hmac').locator('.check').getAttribute('data-verdict'), 'verified');
    // Every field says what it is.
    assert.equal(
      await field(record, 'iv').locator('.explain').innerText(),
      '16 random bytes that make the same line encrypt differently every time.',
    );
    for (const explain of await record.locator('wc-frame .field .explain').allInnerTexts()) {
      assert.match(explain, /^[A-Z0-9"'].{20,}\.$/, explain);
    }

    // A value copies exactly, through the Clipboard API.
    await field(record, 'iv').locator('[data-testid="copy"]').click();
    await field(record, 'iv').locator('[data-testid="copy"][data-copied="true"]').waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), toHex(token.iv));
    assert.match(await record.locator('#copy-status').innerText(), /^Copied IV of record 2\.$/);
    await checkA11y(page, 'inspector open, a record expanded and copied');

    // The README's picture: the chat beside the inspector, this record open at the top of the list (its
    // ciphertext cut again, as a record first opens).
    await field(record, 'ciphertext').locator('[data-testid="show-all"]').click();
    await record.evaluate((li) => li.scrollIntoView({ block: 'start' }));
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.mouse.move(0, 0);
    await page.screenshot({ path: screenshotPath('inspector.png') });
    await record.locator('summary').click();

    // The page's own line: a record it made, and what it encrypted into it.
    const mine = rows.filter({ hasText: '“hello from the page”' });
    assert.equal(await mine.getAttribute('data-direction'), 'out');
    assert.equal(await mine.getAttribute('data-verdict'), 'made');
    await open(mine);
    assert.equal(await mine.locator('.inside-label').innerText(), 'ENCRYPTED BY THIS PAGE');
    assert.equal(await mine.locator('#inside-text').innerText(), 'hello from the page');
    assert.match(await field(mine, 'mac').locator('.check').innerText(), /made by this page/);

    // The hello: the public key exactly as sent, its size and what it is, and the steps' times.
    const hello = rows.filter({ has: page.locator('.type', { hasText: /^hello$/ }) });
    const sentHello = JSON.parse(seen[0]!.payload);
    await open(hello);
    await field(hello, 'publicKey').locator('[data-testid="show-all"]').click();
    assert.equal(await valueOf(hello, 'publicKey'), sentHello.publicKey);
    assert.equal(
      await field(hello, 'publicKey').locator('.note').innerText(),
      '422 bytes, SPKI DER, RSA-OAEP 3072, e=65537; base64url',
    );
    assert.equal(await valueOf(hello, 'nonce'), toHex(fromBase64Url(sentHello.nonce)));
    assert.match(
      await field(hello, 'publicKey').locator('.explain').innerText(),
      /private key, which never leaves the browser/,
    );
    assert.match(await valueOf(hello, 'step-keypair'), /^\d+ ms$/);
    assert.match(await valueOf(hello, 'step-hello'), /^\d+ ms$/);
    await checkA11y(page, 'inspector, the hello expanded in full');

    // The welcome: the server's keys and the signature the page verified.
    const welcome = rows.filter({ has: page.locator('.type', { hasText: /^welcome$/ }) });
    await open(welcome);
    assert.equal(await field(welcome, 'signature').locator('.check').getAttribute('data-verdict'), 'verified');
    assert.match(await field(welcome, 'wrappedKeys').locator('.note').innerText(), /^384 bytes, RSA-OAEP ciphertext/);
    assert.match(await field(welcome, 'serverKey').locator('.note').innerText(), /ECDSA P-256/);
    for (const step of ['welcome', 'verified', 'trusted', 'unwrapped', 'ready']) {
      assert.match(await valueOf(welcome, `step-${step}`), /^\d+ ms$/);
    }
    await checkA11y(page, 'inspector, the welcome expanded');

    // Markup from the wire is text in the inspector too.
    server.type('<img src=x onerror=alert(1)>');
    const markup = rows.filter({ hasText: '<img src=x onerror=alert(1)>' });
    await markup.waitFor();
    await open(markup);
    assert.equal(await markup.locator('#inside-text').innerText(), '<img src=x onerror=alert(1)>');
    assert.equal(await page.locator('#inspector img').count(), 0);
    assert.equal(dialogs, 0);

    // Closed and opened again; remembered for this tab across a reload.
    await page.locator('#inspector-toggle').click();
    assert.equal(await page.locator('#inspector-toggle').getAttribute('aria-expanded'), 'false');
    assert.equal(await page.locator('#inspector').isVisible(), false);
    await page.locator('#inspector-toggle').click();
    await page.reload();
    await page.locator('#name-input').press('Enter');
    await waitForState(page, 'secure');
    assert.equal(await page.locator('#inspector-toggle').getAttribute('aria-expanded'), 'true');
    await frameRows(page)
      .filter({ has: page.locator('.type', { hasText: /^hello$/ }) })
      .waitFor();
    await context.close();
  });

  it('stays usable with hundreds of frames: the newest 200 listed, with a note, the newest in view', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await join(page, server.url, { name: 'bob' });
    await waitForState(page, 'secure');
    await openInspector(page);
    const lines = 240;
    for (let i = 0; i < lines; i++) server.type(`line ${i}`);
    await chatLine(page, `line ${lines - 1}`).waitFor();
    const rows = frameRows(page);
    await until(async () => (await page.locator('#wire-limit-note').count()) === 1, 'the note');
    const total = Number(await rows.last().getAttribute('data-index')) + 1;
    assert.ok(total >= lines + 2, `${total} frames`);
    assert.equal(await rows.count(), 200);
    assert.equal(
      await page.locator('#wire-limit-note').innerText(),
      `Showing the newest 200 of ${total} frames; older ones are not listed.`,
    );
    await checkA11y(page, 'inspector, the newest 200 of hundreds of frames');
    assert.equal(Number(await rows.first().getAttribute('data-index')), total - 200);
    assert.ok(
      await page.locator('#wire-frames').evaluate((list) => list.scrollHeight - list.scrollTop - list.clientHeight < 2),
      'the list follows the newest frame',
    );
    assert.match(await rows.last().innerText(), new RegExp(`line ${lines - 1}`));
    // Opening one still takes it apart at once.
    const started = Date.now();
    await open(rows.nth(100));
    assert.ok(Date.now() - started < 2000);
    await page.close();
  });

  it('on a phone it is a full-width section below the chat, brought into view when opened', async () => {
    const page = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true });
    await join(page, server.url, { name: 'carol' });
    await waitForState(page, 'secure');
    await openInspector(page);
    const boxes = () =>
      // No helper functions inside: tsx would name them with a __name the page does not have.
      page.evaluate(() => {
        const [chat, inspector] = ['section.chat', '#inspector'].map(
          (selector) =>
            document
              .querySelector('wc-app')!
              .shadowRoot!.querySelector(selector)!
              .getBoundingClientRect()
              .toJSON() as DOMRect,
        );
        return { chat: chat!, inspector: inspector!, viewport: window.innerHeight };
      });
    await until(async () => {
      const { inspector, viewport } = await boxes();
      return inspector.top >= 0 && inspector.top < viewport / 4;
    }, 'the inspector scrolled into view');
    const { chat, inspector } = await boxes();
    assert.ok(inspector.top >= chat.bottom, 'below the chat');
    assert.ok(Math.abs(inspector.width - chat.width) < 2 && inspector.width > 340, 'as wide as the chat');
    await checkA11y(page, 'inspector open on a phone');
    await page.close();
  });
});

describe('the wire inspector under attack (npm run mitm in between)', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServerProcess();
  });
  after(() => server.stop());

  it('a swapped public key: the welcome is the frame marked failed, and the alert says what may have happened', async () => {
    const mitm = await startMitm({ target: server.url, port: 0, swapAll: true, modulusLength: 2048 });
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    try {
      await join(page, mitm.url, { name: 'dave' });
      await page.locator('#integrity-alert').waitFor();
      assert.match(
        await page.locator('#end-reason').innerText(),
        /HANDSHAKE_BAD_SIGNATURE.*Someone between you and the server may have changed the handshake \(for example swapped your public key\)\./s,
      );
      await page.locator('#inspector-toggle').click();
      const welcome = frameRows(page).filter({ has: page.locator('.type', { hasText: /^welcome$/ }) });
      assert.equal(await welcome.getAttribute('data-verdict'), 'failed');
      await open(welcome);
      assert.equal(await field(welcome, 'signature').locator('.check').getAttribute('data-verdict'), 'failed');
      assert.match(
        await field(welcome, 'signature').locator('.check-detail').innerText(),
        /^HANDSHAKE_BAD_SIGNATURE: /,
      );
      await checkA11y(page, 'integrity failure, the failed welcome expanded');
      assert.deepEqual(
        await frameRows(page).evaluateAll((lis) => lis.map((li) => li.getAttribute('data-type'))),
        ['hello', 'welcome'],
        'nothing was sent after the hello',
      );
    } finally {
      await page.close();
      await mitm.close();
    }
  });

  it('a flipped bit in a record: that record is marked failed, its record HMAC failed, never decrypted', async () => {
    const mitm = await startMitm({ target: server.url, port: 0, modulusLength: 2048 });
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    try {
      await join(page, mitm.url, { name: 'erin' });
      await waitForState(page, 'secure');
      server.type('this one arrives');
      await chatLine(page, 'this one arrives').waitFor();
      mitm.flip('down', 'token');
      server.type('this one is tampered with');
      await page.locator('#integrity-alert').waitFor();
      await page.locator('#inspector-toggle').click();
      const records = frameRows(page).filter({ has: page.locator('.type', { hasText: /^record/ }) });
      // The seat, the line that arrived, the tampered one.
      await until(async () => (await records.count()) === 3, 'the three records listed');
      assert.deepEqual(await records.evaluateAll((lis) => lis.map((li) => li.getAttribute('data-verdict'))), [
        'verified',
        'verified',
        'failed',
      ]);
      const bad = records.last();
      await open(bad);
      assert.equal(await field(bad, 'mac').locator('.check').getAttribute('data-verdict'), 'failed');
      assert.match(await field(bad, 'mac').locator('.check-detail').innerText(), /^RECORD_BAD_MAC: /);
      assert.match(await field(bad, 'hmac').locator('.check').innerText(), /not checked/);
      assert.equal(await bad.locator('.inside-label').innerText(), 'NOT DECRYPTED');
      assert.equal(await bad.locator('#inside-text').count(), 0);
      await checkA11y(page, 'integrity failure, the failed record expanded');
      assert.equal(await chatLine(page, 'this one is tampered with').count(), 0);
    } finally {
      await page.close();
      await mitm.close();
    }
  });
});
