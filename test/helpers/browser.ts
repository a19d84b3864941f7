/**
 * Debian's Chromium driven by playwright-core: no browser download, the flags this sandboxed machine needs
 * (no sandbox as root, no background networking that the closed network would refuse).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { startServerProcess, type ServerProcess } from './process.ts';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** `executablePath`: a wrapper that runs CHROMIUM elsewhere (another network namespace); `args`: more flags. */
export function launchBrowser(options: { executablePath?: string; args?: string[] } = {}): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
  }
  return chromium.launch({
    executablePath: options.executablePath ?? CHROMIUM,
    args: [
      ...(options.args ?? []),
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Where a test saves the screenshot the README shows. Every run takes it (so the page it shows is checked), but
 * only `npm run screenshots` (WIRECHAT_SCREENSHOTS=docs) writes it into docs/img: pictures with the time and a
 * fresh fingerprint in them would otherwise change tracked files on every test run.
 */
export function screenshotPath(name: string): string {
  const dir =
    process.env.WIRECHAT_SCREENSHOTS === 'docs' ? join(ROOT, 'docs', 'img') : join(ROOT, 'test-results', 'screenshots');
  mkdirSync(dir, { recursive: true });
  return join(dir, name);
}

/**
 * Chromium and one `npm run server` for a whole test file: both started before its first test and stopped after
 * its last. Read them from the returned object inside the tests (they exist once the file's `before` has run).
 */
export function browserAndServer(): { readonly browser: Browser; readonly server: ServerProcess } {
  const held = {} as { browser: Browser; server: ServerProcess };
  before(async () => {
    held.browser = await launchBrowser();
    held.server = await startServerProcess();
  });
  after(async () => {
    await held.browser.close();
    await held.server.stop();
  });
  return held;
}
