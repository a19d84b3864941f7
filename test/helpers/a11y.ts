/**
 * axe-core on a Playwright page: `checkA11y(page, 'state name')` where a browser test has reached a state of the
 * page, failing with every serious or critical violation in a list a person can act on.
 *
 * How axe gets in: the server's CSP is `script-src 'self'`, so `page.addScriptTag({ content })` (an inline
 * script) is refused, as it should be. Playwright's `bypassCSP: true` would get it in, but it is a setting of the
 * whole browser context, made before the page loads: every test would have to open its page differently, and
 * the page would then run without the policy the tests exist to run it under (chat.test.ts shows that markup
 * from the console runs nothing; with the CSP off that proves less). So axe's source is evaluated through
 * `page.evaluate`, which Playwright sends as the DevTools protocol's Runtime.evaluate: the browser does not
 * submit DevTools evaluation to the page's CSP, and the page keeps its policy for everything else (a11y.test.ts
 * checks that an inline script is still refused after a check).
 *
 * What runs: every rule axe enables by default (WCAG 2.0 to 2.2 A and AA, and its best practices), on the whole
 * document; axe walks open shadow roots itself, so every component is checked, with targets that name the
 * shadow hosts on the way. Moderate and minor findings are returned, not failed on; WIRECHAT_AXE_ALL=1 prints them, and what axe
 * could not decide (text on a gradient, for one).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AxeResults, ImpactValue, Result } from 'axe-core';
import type { Page } from 'playwright-core';

/** The minified build: the same code as `axe.source`, a third of the bytes to send for each page. */
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** The impacts a test fails on. */
export const FAILING_IMPACTS: readonly ImpactValue[] = ['serious', 'critical'];

/** One violation as a few lines: rule, impact, what it asks, and each element with what is wrong there. */
export function describeViolation(violation: Result): string {
  const nodes = violation.nodes.map((node) => {
    // In a shadow root, a target is the path of selectors from the document through each shadow host.
    const target = node.target.map((part) => (Array.isArray(part) ? part.join(' >> ') : String(part))).join(' | ');
    // "Fix any of the following:" and then one check a line: kept on one line, the checks split by semicolons.
    const [lead = '', ...checks] = (node.failureSummary ?? '')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '');
    const why = `${lead} ${checks.join('; ')}`.trim();
    return `    ${target}\n      ${why}`;
  });
  return [
    `  ${violation.id} (${violation.impact ?? 'no impact'}): ${violation.help}`,
    `    ${violation.helpUrl}`,
    ...nodes,
  ].join('\n');
}

/** Puts axe into the page once per document (a navigation or reload starts a new one). */
async function inject(page: Page): Promise<void> {
  const present = await page.evaluate(() => typeof (window as { axe?: unknown }).axe === 'object');
  if (!present) await page.evaluate(AXE_SOURCE);
}

/** Runs axe on the whole document and returns its results, whatever they are. */
export async function runAxe(page: Page): Promise<AxeResults> {
  await inject(page);
  return page.evaluate(async () => {
    const axe = (window as unknown as { axe: typeof import('axe-core') }).axe;
    return axe.run(document, { resultTypes: ['violations', 'incomplete'] });
  });
}

/**
 * Fails, naming `state`, when axe finds a serious or critical violation on the page as it is now. Returns the
 * results (moderate and minor violations among them) for a test that checks more.
 */
export async function checkA11y(page: Page, state: string): Promise<AxeResults> {
  const results = await runAxe(page);
  if (process.env.WIRECHAT_AXE_ALL === '1') {
    const all = [
      ...results.violations.map(describeViolation),
      ...results.incomplete.map((r) => `${describeViolation(r)} [needs review]`),
    ];
    if (all.length > 0) console.log(`axe on "${state}", every impact and what it could not decide:\n${all.join('\n')}`);
  }
  const failing = results.violations.filter(
    (v) => v.impact !== undefined && v.impact !== null && FAILING_IMPACTS.includes(v.impact),
  );
  assert.ok(
    failing.length === 0,
    `axe-core ${results.testEngine.version} found ${failing.length} serious or critical accessibility ` +
      `violation${failing.length === 1 ? '' : 's'} on "${state}" (${results.url}):\n${failing.map(describeViolation).join('\n')}`,
  );
  return results;
}
