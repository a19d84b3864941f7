/**
 * Small steps a person takes on the page, shared by the browser tests. Playwright's CSS selectors pierce the
 * components' shadow roots, so ids inside them are addressed directly.
 */
import type { Page } from 'playwright-core';

export async function join(page: Page, url: string, options: { name?: string; plain?: boolean } = {}): Promise<void> {
  await page.goto(url);
  if (options.name !== undefined) await page.locator('#name-input').fill(options.name);
  if (options.plain) await page.locator('#plain-opt-in').check();
  await page.locator('#name-input').press('Enter');
}

export async function waitForState(page: Page, state: string, timeout = 15_000): Promise<void> {
  await page.locator(`#status[data-state="${state}"]`).waitFor({ timeout });
}

export async function say(page: Page, text: string): Promise<void> {
  await page.locator('#chat-input').fill(text);
  await page.locator('#chat-input').press('Enter');
}

export function chatLine(page: Page, text: string) {
  return page.locator('li[data-testid="chat-line"]').filter({ hasText: text });
}
