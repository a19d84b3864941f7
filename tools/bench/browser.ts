/**
 * The page's handshake in headless Chromium, for `npm run bench`: page load to secure on the real page (dist/,
 * served by the real server in a child process), against what the same browser takes, in the same run, just to
 * make the 3072-bit RSA-OAEP key pair from a page load. Every run uses a fresh browser context (no pinned key, no
 * cache), so each is a first visit.
 */
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Browser, Page, Response } from 'playwright-core';
import { SECURITY_HEADERS } from '../../server/http-guard.ts';
import { launchBrowser } from '../../test/helpers/browser.ts';
import { RSA_MODULUS_BITS } from '../../shared/handshake.ts';

export interface BrowserRun {
  /** Milliseconds from navigation start to the page being secure. */
  loadToSecure: number;
  /** Milliseconds from navigation start to a key pair made, on a page that does only that. */
  loadToKeyPair: number;
  /** On that page, from navigation start until it asked Web Crypto for the key pair. */
  keyPairOnlyStart: number;
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
/** Where the key-pair-only page and its script are, next to the page's own files. */
export const KEY_PAIR_ONLY_PAGE = 'bench-keygen.html';
const KEY_PAIR_ONLY_SCRIPT = 'assets/bench-keygen.js';
const KEYGEN_PAGE = `<!doctype html><meta charset="utf-8"><title>keygen</title><script src="/${KEY_PAIR_ONLY_SCRIPT}"></script>`;

/**
 * A copy of the built page (`dist`) with the key-pair-only page added, for the bench's server to serve: the
 * baseline then comes the way the page does, from the same origin through the same server, with the same headers
 * (server/http-guard.ts) and its script a file of its own under `script-src 'self'`, as the page's first script
 * is. The headers matter: with Cross-Origin-Opener-Policy, Chromium moves a navigation from the blank page into a
 * new browsing context group, a new renderer process, before any of the page runs, and the CSP leaves no inline
 * script, so the page's first script costs a request of its own. A baseline without either counted both as the
 * page's own work. `remove` deletes the copy.
 */
export async function withKeyPairOnlyPage(dist: string): Promise<{ root: string; remove: () => Promise<void> }> {
  const root = await mkdtemp(join(tmpdir(), 'wirechat-bench-page-'));
  const remove = () => rm(root, { recursive: true, force: true });
  try {
    await cp(dist, root, { recursive: true });
    await mkdir(join(root, dirname(KEY_PAIR_ONLY_SCRIPT)), { recursive: true });
    await writeFile(join(root, KEY_PAIR_ONLY_PAGE), KEYGEN_PAGE);
    await writeFile(join(root, KEY_PAIR_ONLY_SCRIPT), KEYGEN_SCRIPT);
  } catch (error) {
    await remove();
    throw error;
  }
  return { root, remove };
}

/**
 * The headers of `response` that the server sends for security, to check that the two pages came with the same
 * ones: the comparison is only fair if they did.
 */
function securityHeaders(response: Response | null, what: string): string {
  if (!response?.ok()) throw new Error(`bench: ${what} answered ${response?.status() ?? 'nothing'}`);
  const headers = response.headers();
  return JSON.stringify(Object.keys(SECURITY_HEADERS).map((name) => [name, headers[name.toLowerCase()] ?? null]));
}

async function keyPairOnly(
  browser: Browser,
  origin: string,
  pageHeaders: string,
): Promise<{ made: number; asked: number }> {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const response = await page.goto(`${origin}${KEY_PAIR_ONLY_PAGE}`);
    if (securityHeaders(response, 'the key-pair-only page') !== pageHeaders) {
      throw new Error(`bench: the key-pair-only page did not come with the page's headers (${pageHeaders})`);
    }
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
): Promise<{ run: Omit<BrowserRun, 'loadToKeyPair' | 'keyPairOnlyStart' | 'keyPairOnlyMaking'>; headers: string }> {
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
    const headers = securityHeaders(await page.goto(origin), 'the page');
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
    const run = {
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
    return { run, headers };
  } finally {
    await context.close();
  }
}

/** `runs` rounds, each a key-pair-only page load then a real page load, in turn. */
export async function browserHandshakes(origin: string, runs: number): Promise<BrowserRun[]> {
  const browser = await launchBrowser();
  try {
    // One of each first, not counted: the first page load of a browser pays for starting its processes.
    const { headers } = await realPage(browser, origin);
    await keyPairOnly(browser, origin, headers);
    const out: BrowserRun[] = [];
    for (let i = 0; i < runs; i++) {
      const only = await keyPairOnly(browser, origin, headers);
      out.push({
        loadToKeyPair: only.made,
        keyPairOnlyStart: only.asked,
        keyPairOnlyMaking: only.made - only.asked,
        ...(await realPage(browser, origin)).run,
      });
    }
    return out;
  } finally {
    await browser.close();
  }
}
