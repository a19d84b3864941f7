/**
 * The page load to secure, and what must stay out of its way.
 *
 * The first key pair starts while the document is still being parsed, from index.html's own small classic
 * script, before the page's bundle (Lit, the components) has been run, and the first chat uses that very pair.
 * Ordering, not timing: each generateKey call notes the document's readyState, the script that made it, and
 * whether the bundle had defined its components yet, so this fails if the start moves back into the bundle (a
 * module script runs only after parsing, with readyState past 'loading'). Also that the page stays under its
 * strict CSP: no inline script, no 'unsafe-inline'.
 *
 * The chat log, empty while the handshake runs, reads no layout (scrollHeight) until it has lines to follow.
 * Takes test-results/screenshots/page-load.png.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkA11y } from '../helpers/a11y.ts';
import { browserAndServer, screenshotPath } from '../helpers/browser.ts';
import { chatLine, join, say, waitForState } from '../helpers/page.ts';

const env = browserAndServer();

interface KeyPairCall {
  readyState: DocumentReadyState;
  /** The src of the classic script running when the call was made ('' for a module, which has no currentScript). */
  script: string;
  /** Whether the bundle had defined the page's components by then. */
  bundleRan: boolean;
}

describe('page load to secure', () => {
  it('is asked for from a small classic script while the page is parsed, before the bundle runs', async () => {
    const context = await env.browser.newContext();
    const page = await context.newPage();
    try {
      await page.addInitScript(() => {
        const calls: KeyPairCall[] = [];
        Object.assign(window, { __keyPairCalls: calls });
        const subtle = crypto.subtle;
        const generateKey = subtle.generateKey.bind(subtle) as (...args: unknown[]) => Promise<unknown>;
        (subtle as { generateKey: unknown }).generateKey = (...args: unknown[]) => {
          const script = document.currentScript;
          calls.push({
            readyState: document.readyState,
            script: script instanceof HTMLScriptElement ? script.src : '',
            bundleRan: customElements.get('wc-app') !== undefined,
          });
          return generateKey(...args);
        };
      });
      const response = await page.goto(env.server.url);
      const csp = response?.headers()['content-security-policy'] ?? '';
      assert.match(csp, /script-src 'self'/);
      assert.doesNotMatch(csp, /unsafe-inline/);

      // The served page: the early script first, before every module script and style sheet, and nothing inline.
      const scripts = await page.evaluate(() =>
        [...document.querySelectorAll('head script, head link[rel="stylesheet"]')].map((el) => ({
          tag: el.localName,
          type: el.getAttribute('type') ?? '',
          src: el.getAttribute('src') ?? el.getAttribute('href') ?? '',
        })),
      );
      assert.ok(
        scripts.every((s) => s.src !== ''),
        `no inline script: ${JSON.stringify(scripts)}`,
      );
      const [early, ...rest] = scripts;
      assert.ok(early !== undefined && early.tag === 'script' && early.type === '', 'a classic script comes first');
      assert.match(early.src, /^\/assets\/early-key-pair-[\w-]+\.js$/);
      assert.ok(
        rest.some((s) => s.type === 'module'),
        'the bundle follows as a module',
      );
      const earlyBytes = (await (await fetch(new URL(early.src, env.server.url))).arrayBuffer()).byteLength;
      assert.ok(earlyBytes < 4096, `the early script stays small (${earlyBytes} bytes): the bundle is not in it`);

      await join(page, env.server.url);
      await waitForState(page, 'secure', 60_000);
      const calls = await page.evaluate(() => (window as unknown as { __keyPairCalls: KeyPairCall[] }).__keyPairCalls);
      assert.equal(calls.length, 1, `one key pair for the first chat, the early one: ${JSON.stringify(calls)}`);
      const [first] = calls;
      assert.equal(first!.readyState, 'loading', 'asked for while the document was still being parsed');
      assert.equal(new URL(first!.script).pathname, early.src, 'by the early script');
      assert.equal(first!.bundleRan, false, 'before the bundle had run');

      await checkA11y(page, 'secure, with the early key pair');
      await page.screenshot({ path: screenshotPath('page-load.png') });
    } finally {
      await context.close();
    }
  });
  it('lays nothing out for an empty chat log during the handshake, and follows the log once it has lines', async () => {
    const context = await env.browser.newContext();
    const page = await context.newPage();
    try {
      await page.addInitScript(() => {
        const reads = { count: 0 };
        Object.assign(window, { __chatLogLayoutReads: reads });
        const scrollHeight = Object.getOwnPropertyDescriptor(Element.prototype, 'scrollHeight')!;
        Object.defineProperty(Element.prototype, 'scrollHeight', {
          ...scrollHeight,
          get(this: Element) {
            if (this.id === 'chat-log') reads.count++;
            return scrollHeight.get!.call(this);
          },
        });
      });
      const reads = () =>
        page.evaluate(
          () => (window as unknown as { __chatLogLayoutReads: { count: number } }).__chatLogLayoutReads.count,
        );
      await join(page, env.server.url);
      await waitForState(page, 'secure', 60_000);
      assert.equal(await reads(), 0, 'the empty log was not laid out to scroll it');
      await say(page, 'first line');
      await chatLine(page, 'first line').waitFor();
      assert.ok((await reads()) > 0, 'a log with lines still follows them to the bottom');
    } finally {
      await context.close();
    }
  });
});
