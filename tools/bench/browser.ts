/**
 * The page's handshake in headless Chromium, for `npm run bench`: page load to secure on the real page (dist/,
 * served by the real server in a child process), against what the same browser takes, in the same run, just to
 * make the 3072-bit RSA-OAEP key pair from a page load. Every run uses a fresh browser context (no pinned key, no
 * cache), so each is a first visit.
 */
import { createHash } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { SECURITY_HEADERS } from '../../server/http-guard.ts';
import { launchBrowser } from '../../test/helpers/browser.ts';
import { RSA_MODULUS_BITS } from '../../shared/handshake.ts';

export interface BrowserRun {
  /** Milliseconds from navigation start to the page being secure. */
  loadToSecure: number;
  /** Milliseconds from navigation start to a key pair made, on a page that does only that. */
  loadToKeyPair: number;
  /** On that page, how long Web Crypto took to make the key pair. */
  keyPairOnlyMaking: number;
  /** From the socket's creation (the person pressed Enter) until the key pair was there. */
  keyPairWait: number;
  /** From navigation start until the page asked Web Crypto for its key pair (loading and starting the page). */
  keyPairStart: number;
  /** How long Web Crypto took to make the page's key pair. */
  keyPairMaking: number;
  /** From the key pair made until secure (Enter, hello, welcome, verify, trust, unwrap, rendering). */
  afterKeyPair: number;
  /** From the socket's creation until secure. */
  socketToSecure: number;
  /** Hello sent to welcome received: the server and loopback. */
  server: number;
  verify: number;
  unwrap: number;
}

const KEYGEN_SCRIPT = `
window.__keyPairAsked = performance.now();
crypto.subtle.generateKey(
  { name: 'RSA-OAEP', hash: 'SHA-256', modulusLength: ${RSA_MODULUS_BITS}, publicExponent: new Uint8Array([1, 0, 1]) },
  false, ['encrypt', 'decrypt'],
).then(() => { window.__keyPairMade = performance.now(); });
`;
const KEYGEN_PAGE = `<!doctype html><meta charset="utf-8"><title>keygen</title><script>${KEYGEN_SCRIPT}</script>`;

/**
 * The key-pair-only page gets the real page's security headers (server/http-guard.ts), its one inline script
 * allowed by its hash: without Cross-Origin-Opener-Policy, Chromium loads it in the blank page's renderer, while
 * the real page, with it, is moved to a new browsing context group (a new renderer process) before anything of it
 * runs, and the ratio counted that swap as the page's own work.
 */
const KEYGEN_HEADERS: Record<string, string> = {
  ...SECURITY_HEADERS,
  'Content-Security-Policy': SECURITY_HEADERS['Content-Security-Policy']!.replace(
    "script-src 'self'",
    `script-src 'self' 'sha256-${createHash('sha256').update(KEYGEN_SCRIPT).digest('base64')}'`,
  ),
};

async function keyPairOnly(browser: Browser, origin: string): Promise<{ made: number; asked: number }> {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    // Same origin and same navigation as the real page: only what the page does after loading differs.
    await page.route(`${origin}bench-keygen`, (route) =>
      route.fulfill({ contentType: 'text/html', headers: KEYGEN_HEADERS, body: KEYGEN_PAGE }),
    );
    await page.goto(`${origin}bench-keygen`);
    await page.waitForFunction(() => (window as { __keyPairMade?: number }).__keyPairMade !== undefined, undefined, {
      timeout: 60_000,
      polling: 50,
    });
    return await page.evaluate(() => {
      const w = window as unknown as { __keyPairMade: number; __keyPairAsked: number };
      return { made: w.__keyPairMade, asked: w.__keyPairAsked };
    });
  } finally {
    await context.close();
  }
}

async function stepMs(page: Page, step: string): Promise<number> {
  const text = await page.locator(`#handshake-steps li[data-step="${step}"] .ms`).innerText();
  const ms = Number(/^(\d+) ms$/.exec(text.trim())?.[1]);
  if (!Number.isFinite(ms)) throw new Error(`bench: the page shows "${text}" for the ${step} step`);
  return ms;
}

async function realPage(
  browser: Browser,
  origin: string,
): Promise<Omit<BrowserRun, 'loadToKeyPair' | 'keyPairOnlyMaking'>> {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    // The page's ClientSession starts its step clock when the socket is made; note that moment on the
    // navigation's clock, so that "load to secure" is socket time + the page's own "ready" step.
    // Also when the page asks for its key pair and when it gets it, to split load -> secure into loading the
    // page, making the key pair, and the handshake after it.
    await page.addInitScript(() => {
      const marks = window as { __socketMade?: number; __keyPairAsked?: number; __keyPairMade?: number };
      const Native = window.WebSocket;
      window.WebSocket = class extends Native {
        constructor(url: string | URL, protocols?: string | string[]) {
          super(url, protocols);
          marks.__socketMade ??= performance.now();
        }
      };
      const subtle = crypto.subtle;
      const generateKey = subtle.generateKey.bind(subtle) as (...args: unknown[]) => Promise<unknown>;
      (subtle as { generateKey: unknown }).generateKey = (...args: unknown[]) => {
        marks.__keyPairAsked ??= performance.now();
        return generateKey(...args).then((pair) => {
          marks.__keyPairMade ??= performance.now();
          return pair;
        });
      };
    });
    await page.goto(origin);
    await page.locator('#name-input').press('Enter');
    await page.locator('#status[data-state="secure"]').waitFor({ timeout: 60_000 });
    const marks = await page.evaluate(() => {
      const w = window as unknown as { __socketMade: number; __keyPairAsked: number; __keyPairMade: number };
      return { socketMade: w.__socketMade, asked: w.__keyPairAsked, made: w.__keyPairMade };
    });
    const socketMade = marks.socketMade;
    const [keypair, hello, welcome, verified, trusted, unwrapped, ready] = await Promise.all(
      ['keypair', 'hello', 'welcome', 'verified', 'trusted', 'unwrapped', 'ready'].map((s) => stepMs(page, s)),
    );
    return {
      loadToSecure: socketMade + ready!,
      keyPairWait: keypair!,
      keyPairStart: marks.asked,
      keyPairMaking: marks.made - marks.asked,
      afterKeyPair: socketMade + ready! - marks.made,
      socketToSecure: ready!,
      server: welcome! - hello!,
      verify: verified! - welcome!,
      unwrap: unwrapped! - trusted!,
    };
  } finally {
    await context.close();
  }
}

/** `runs` rounds, each a key-pair-only page load then a real page load, in turn. */
export async function browserHandshakes(origin: string, runs: number): Promise<BrowserRun[]> {
  const browser = await launchBrowser();
  try {
    // One of each first, not counted: the first page load of a browser pays for starting its processes.
    await keyPairOnly(browser, origin);
    await realPage(browser, origin);
    const out: BrowserRun[] = [];
    for (let i = 0; i < runs; i++) {
      const only = await keyPairOnly(browser, origin);
      out.push({
        loadToKeyPair: only.made,
        keyPairOnlyMaking: only.made - only.asked,
        ...(await realPage(browser, origin)),
      });
    }
    return out;
  } finally {
    await browser.close();
  }
}
