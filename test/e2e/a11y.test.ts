/**
 * The page by keyboard alone, in Debian's Chromium against `npm run server`: join, chat, send, open the wire
 * inspector, take a frame apart, close it with Escape, end the chat and start again, never touching the mouse.
 * Every step asserts where the focus is and that it is drawn; the status and the chat log are checked to be
 * live regions in Chromium's own accessibility tree, updated in place (what a screen reader announces), and
 * axe-core runs on each state. First, the axe helper itself: it finds a broken control inside a shadow root,
 * under the page's real CSP, and says so readably.
 * Takes test-results/screenshots/a11y-*.png (focus rings, to look at).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { BrowserContext, Page } from 'playwright-core';
import { checkA11y } from '../helpers/a11y.ts';
import { browserAndServer, screenshotPath } from '../helpers/browser.ts';
import { chatLine, waitForState } from '../helpers/page.ts';

const env = browserAndServer();

interface Focused {
  /** `host#id` or `host tag`: the element with the focus, inside the shadow roots, and the component around it. */
  where: string;
  text: string;
  /** Drawn: :focus-visible matches and the outline is at least 2px and not `none`. */
  ring: boolean;
}

/** The element that has the focus, looked up through the shadow roots, and whether its focus ring shows. */
async function focused(page: Page): Promise<Focused> {
  // No helper functions inside: tsx would name them with a __name the page does not have.
  return page.evaluate(() => {
    let element: Element | null = document.activeElement;
    while (element?.shadowRoot?.activeElement) element = element.shadowRoot.activeElement;
    if (element === null || element === document.body) return { where: 'body', text: '', ring: false };
    const root = element.getRootNode();
    const host = root instanceof ShadowRoot ? root.host.localName : 'document';
    const style = getComputedStyle(element);
    const ring =
      element.matches(':focus-visible') && style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2;
    const name = element.id === '' ? element.localName : `#${element.id}`;
    return {
      where: `${host}${name.startsWith('#') ? '' : ' '}${name}`,
      text: (element.textContent ?? '').trim().slice(0, 60),
      ring,
    };
  });
}

/** Presses `key` and asserts where the focus went, and that it is drawn. */
async function press(page: Page, key: string, where: string): Promise<Focused> {
  await page.keyboard.press(key);
  const now = await focused(page);
  assert.equal(now.where, where, `${key} moved the focus to ${now.where}, not ${where}`);
  assert.ok(now.ring, `the focus on ${where} is not drawn`);
  return now;
}

async function focusIs(page: Page, where: string): Promise<void> {
  const now = await focused(page);
  assert.equal(now.where, where);
  assert.ok(now.ring, `the focus on ${where} is not drawn`);
}

/**
 * The live region around the node that Chromium's accessibility tree has for `text`: the nearest ancestor with
 * a `live` property, its role and its live, relevant and atomic values. This is the tree a screen reader reads.
 */
async function liveRegionOf(context: BrowserContext, page: Page, text: string) {
  const cdp = await context.newCDPSession(page);
  try {
    type Property = { name: string; value: { value?: unknown } };
    type AXNode = {
      nodeId: string;
      parentId?: string;
      role?: { value?: string };
      name?: { value?: string };
      properties?: Property[];
    };
    const { nodes } = (await cdp.send('Accessibility.getFullAXTree')) as unknown as { nodes: AXNode[] };
    const byId = new Map(nodes.map((n) => [n.nodeId, n]));
    const prop = (n: AXNode, name: string) => n.properties?.find((p) => p.name === name)?.value.value;
    const start = nodes.find((n) => n.role?.value === 'StaticText' && String(n.name?.value ?? '').includes(text));
    assert.ok(start !== undefined, `no text "${text}" in the accessibility tree`);
    for (
      let n: AXNode | undefined = start;
      n !== undefined;
      n = n.parentId === undefined ? undefined : byId.get(n.parentId)
    ) {
      const live = prop(n, 'live');
      if (live !== undefined && live !== 'off') {
        return {
          role: n.role?.value,
          name: n.name?.value,
          live,
          relevant: prop(n, 'relevant'),
          atomic: prop(n, 'atomic'),
        };
      }
    }
    return undefined;
  } finally {
    await cdp.detach();
  }
}

describe('the axe helper', () => {
  it('finds a nameless button and faint text inside a shadow root under the real CSP, and lists them', async () => {
    const page = await env.browser.newPage({ viewport: { width: 1280, height: 800 } });
    try {
      await page.goto(env.server.url);
      await page.locator('#keypair-state[data-state="ready"]').waitFor();
      await checkA11y(page, 'join form');

      // Two faults, two shadow roots down (wc-app, then wc-join), drawn through the CSSOM as the page's CSP wants.
      await page.evaluate(() => {
        const form = document
          .querySelector('wc-app')!
          .shadowRoot!.querySelector('wc-join')!
          .shadowRoot!.querySelector('form')!;
        const button = document.createElement('button');
        button.id = 'nameless';
        form.append(button);
        const faint = document.createElement('p');
        faint.id = 'faint';
        faint.textContent = 'grey on white, too faint to read';
        faint.style.color = '#b0b0b0';
        form.append(faint);
      });
      await assert.rejects(checkA11y(page, 'join form, broken on purpose'), (error: Error) => {
        assert.match(
          error.message,
          /found 2 serious or critical accessibility violations on "join form, broken on purpose"/,
        );
        assert.match(error.message, /^ {2}button-name \(critical\): Buttons must have discernible text$/m);
        assert.match(error.message, /^ {4}wc-app >> wc-join >> #nameless$/m);
        assert.match(error.message, /^ {2}color-contrast \(serious\): /m);
        assert.match(
          error.message,
          /^ {4}wc-app >> wc-join >> #faint\n {6}Fix any of the following: Element has insufficient color contrast of 2\.\d+/m,
        );
        assert.match(error.message, /https:\/\/dequeuniversity\.com\/rules\/axe\/[\d.]+\/button-name/);
        return true;
      });

      // axe went in without lifting the page's CSP: an inline script is still refused.
      await page.addScriptTag({ content: 'window.inlineRan = true;' }).catch(() => undefined);
      assert.equal(
        await page.evaluate(() => (window as { inlineRan?: boolean }).inlineRan),
        undefined,
        'an inline script ran',
      );
    } finally {
      await page.close();
    }
  });
});

describe('the status dot', () => {
  it('pulses only after a second of connecting or securing, and never under reduced motion', async () => {
    for (const reducedMotion of ['no-preference', 'reduce'] as const) {
      const context = await env.browser.newContext({ reducedMotion });
      try {
        const page = await context.newPage();
        await page.goto(env.server.url);
        await page.locator('#keypair-state[data-state="ready"]').waitFor();
        for (const phase of ['connecting', 'securing', 'idle'] as const) {
          // The component's own CSS, in each phase it can be put in (the state is what web/connection.ts hands it).
          const dot = await page.evaluate((phase) => {
            const status = document.querySelector('wc-app')!.shadowRoot!.querySelector('wc-status')!;
            (status as unknown as { state: unknown }).state = { phase };
            return (status as unknown as { updateComplete: Promise<boolean> }).updateComplete.then(() => {
              const style = getComputedStyle(status.shadowRoot!.querySelector('.dot')!);
              return { name: style.animationName, delay: style.animationDelay };
            });
          }, phase);
          const pulses = reducedMotion === 'no-preference' && phase !== 'idle';
          assert.deepEqual(
            dot,
            pulses ? { name: 'pulse', delay: '1s' } : { name: 'none', delay: dot.delay },
            `${phase}, ${reducedMotion}`,
          );
        }
      } finally {
        await context.close();
      }
    }
  });
});

describe('the page by keyboard alone', () => {
  it('join, chat, send, inspector open and closed with Escape, end and start again: focus and live regions', async () => {
    const context = await env.browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    try {
      await page.goto(env.server.url);
      // The name field has the focus, its offered name selected: typing replaces it.
      await page.locator('#keypair-state[data-state="ready"]').waitFor();
      await focusIs(page, 'wc-join#name-input');
      await page.keyboard.type('kim');
      assert.equal(await page.locator('#name-input').inputValue(), 'kim');
      await page.screenshot({ path: screenshotPath('a11y-join-focus.png') });

      // Tab order: the name, Connect, the plain-mode box (Space ticks it), and back.
      await press(page, 'Tab', 'wc-join#connect-button');
      await press(page, 'Tab', 'wc-join#plain-opt-in');
      await press(page, 'Space', 'wc-join#plain-opt-in');
      assert.equal(await page.locator('#plain-opt-in').isChecked(), true);
      await press(page, 'Space', 'wc-join#plain-opt-in');
      assert.equal(await page.locator('#plain-opt-in').isChecked(), false);
      await press(page, 'Shift+Tab', 'wc-join#connect-button');

      // Every text the status region takes from here on, recorded on the node itself: a region updated in place
      // is announced; one replaced by a new node often is not.
      await page.evaluate(() => {
        const status = document
          .querySelector('wc-app')!
          .shadowRoot!.querySelector('wc-status')!
          .shadowRoot!.querySelector('#status-text')!;
        const spoken: string[] = [];
        Object.assign(window, { spoken, statusNode: status });
        new MutationObserver(() => spoken.push(status.textContent ?? '')).observe(status, {
          childList: true,
          characterData: true,
          subtree: true,
        });
      });

      // Enter on Connect: the chat, with the focus in the message field.
      await page.keyboard.press('Enter');
      await waitForState(page, 'secure');
      await page.locator('#chat-input').waitFor();
      await focusIs(page, 'wc-chat#chat-input');
      const spoken = await page.evaluate(() => {
        const status = document
          .querySelector('wc-app')!
          .shadowRoot!.querySelector('wc-status')!
          .shadowRoot!.querySelector('#status-text');
        return {
          texts: (window as unknown as { spoken: string[] }).spoken,
          same: status === (window as unknown as { statusNode: Element }).statusNode,
        };
      });
      assert.ok(spoken.same, 'the status region is the same node as before: updated in place');
      assert.match(spoken.texts[0] ?? '', /^Connecting…/, spoken.texts.join(' | '));
      assert.equal(spoken.texts.at(-1), 'Secure: encrypted between this tab and the server');
      assert.deepEqual(await liveRegionOf(context, page, 'Secure: encrypted between'), {
        role: 'status',
        name: '',
        live: 'polite',
        relevant: 'additions text',
        atomic: true,
      });
      await env.server.waitForLine('kim joined (secure');
      await checkA11y(page, 'secure chat, reached by keyboard');

      // A line sent with Enter, another with the Send button and Space; the focus stays where the person is.
      await page.keyboard.type('typed without a mouse');
      await page.keyboard.press('Enter');
      await env.server.waitForLine(/kim: typed without a mouse$/);
      await focusIs(page, 'wc-chat#chat-input');
      assert.equal(await page.locator('#chat-input').inputValue(), '');
      await page.keyboard.type('sent with the button');
      await press(page, 'Tab', 'wc-chat#send-button');
      await page.keyboard.press('Space');
      await env.server.waitForLine(/kim: sent with the button$/);
      await page.locator('li[data-own][data-status="delivered"]').filter({ hasText: 'sent with the button' }).waitFor();
      await focusIs(page, 'wc-chat#send-button');

      // An incoming line lands in a polite log region, as an addition.
      env.server.type('heard by a screen reader');
      await chatLine(page, 'heard by a screen reader').waitFor();
      assert.deepEqual(await liveRegionOf(context, page, 'heard by a screen reader'), {
        role: 'log',
        name: 'Chat lines',
        live: 'polite',
        relevant: 'additions',
        atomic: false,
      });
      assert.deepEqual(await page.locator('li[data-testid="chat-line"] .text').allInnerTexts(), [
        'typed without a mouse',
        'sent with the button',
        'heard by a screen reader',
      ]);

      // Backwards: the input, the log (scrollable, so focusable), the inspector's toggle in the header.
      await press(page, 'Shift+Tab', 'wc-chat#chat-input');
      await press(page, 'Shift+Tab', 'wc-chat#chat-log');
      await page.screenshot({ path: screenshotPath('a11y-log-focus.png') });
      await press(page, 'Shift+Tab', 'wc-app#inspector-toggle');

      // Space opens the inspector; the focus stays on the toggle, and Tab reaches the frames after the chat.
      await press(page, 'Space', 'wc-app#inspector-toggle');
      assert.equal(await page.locator('#inspector-toggle').getAttribute('aria-expanded'), 'true');
      await page.locator('#wire-frames').waitFor();
      await press(page, 'Tab', 'wc-chat#chat-log');
      await press(page, 'Tab', 'wc-chat#chat-input');
      await press(page, 'Tab', 'wc-chat#send-button');
      const summary = await press(page, 'Tab', 'wc-inspector summary');
      assert.match(summary.text, /^→\s*page → server\s*hello/);

      // Enter takes the hello apart; Tab goes on into it; Enter on "Show all" shows the whole frame.
      await page.keyboard.press('Enter');
      const hello = page.locator('li[data-testid="wire-frame"][data-type="hello"]');
      await hello.locator('wc-frame [data-field]').first().waitFor();
      assert.equal(await hello.locator('details').getAttribute('open'), '');
      await focusIs(page, 'wc-inspector summary');
      await page.screenshot({ path: screenshotPath('a11y-inspector-focus.png') });
      await checkA11y(page, 'inspector opened and a frame expanded by keyboard');
      const showAll = await press(page, 'Tab', 'wc-frame button');
      assert.equal(showAll.text, 'Show all');
      await page.keyboard.press('Enter');
      await hello.locator('[data-field="raw"] [data-testid="show-all"][aria-expanded="true"]').waitFor();
      await focusIs(page, 'wc-frame button');

      // Escape, from deep inside a frame, closes the inspector and gives the focus back to its toggle.
      await press(page, 'Escape', 'wc-app#inspector-toggle');
      assert.equal(await page.locator('#inspector-toggle').getAttribute('aria-expanded'), 'false');
      assert.equal(await page.locator('#inspector').isVisible(), false);
      await press(page, 'Enter', 'wc-app#inspector-toggle');
      assert.equal(await page.locator('#inspector-toggle').getAttribute('aria-expanded'), 'true');
      await press(page, 'Enter', 'wc-app#inspector-toggle');
      assert.equal(await page.locator('#inspector-toggle').getAttribute('aria-expanded'), 'false');

      // EXIT ends the chat; the focus goes to "Start a new chat", and Enter there to the name field again.
      await press(page, 'Tab', 'wc-chat#chat-log');
      await press(page, 'Tab', 'wc-chat#chat-input');
      await page.keyboard.type('EXIT');
      await page.keyboard.press('Enter');
      await waitForState(page, 'ended');
      await page.locator('#new-chat').waitFor();
      await focusIs(page, 'wc-ended#new-chat');
      await checkA11y(page, 'chat ended by keyboard');
      await page.keyboard.press('Enter');
      await page.locator('#name-input').waitFor();
      await focusIs(page, 'wc-join#name-input');
      assert.equal(await page.locator('#name-input').inputValue(), 'kim');
    } finally {
      await context.close();
    }
  });
});
