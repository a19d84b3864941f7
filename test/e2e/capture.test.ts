/**
 * `npm run capture`'s reports as a terminal shows them, rendered in Chromium for the README
 * (docs/img/capture.png, docs/img/capture-tls.png): the text on each picture is checked to be the report. What the
 * captures hold is checked in test/tools/capture.test.ts, without a browser.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { formatReport, runCapture } from '../../tools/capture.ts';
import { launchBrowser, screenshotPath } from '../helpers/browser.ts';

const haveTshark = spawnSync('tshark', ['--version']).error === undefined;
// Skipped only on a developer's machine without tshark; in CI (which installs it) a missing tshark fails.
const skip = haveTshark || process.env.CI ? false : 'tshark is not installed (sudo apt-get install tshark)';

describe('npm run capture, as a terminal shows it', { skip }, () => {
  let browser: Browser;
  let dir: string;
  before(async () => {
    browser = await launchBrowser();
    dir = await mkdtemp(join(tmpdir(), 'wirechat-capture-e2e-'));
  });
  after(async () => {
    await browser.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** A report as a terminal shows it, screenshotted for the README; the text on the picture is checked to be the report. */
  async function renderAsTerminal(report: string, width: number, name: string): Promise<void> {
    const page = await browser.newPage({ viewport: { width, height: 300 } });
    await page.setContent(
      '<body style="margin:0;background:#111;"><pre id="t" style="margin:0;padding:16px;color:#e8e8e8;font:13px/1.35 DejaVu Sans Mono,monospace;white-space:pre-wrap;word-break:break-all"></pre></body>',
    );
    // textContent: the report is wire text, so it goes in as text, never as markup.
    await page.locator('#t').evaluate((element, text) => (element.textContent = text), report);
    await page.locator('#t').screenshot({ path: screenshotPath(name) });
    assert.equal(await page.locator('#t').innerText(), report.replace(/\n$/, ''));
    await page.close();
  }

  it('plain and secure side by side (docs/img/capture.png)', async () => {
    const result = await runCapture({ out: join(dir, 'plain-secure') });
    assert.equal(result.ok, true);
    await renderAsTerminal(formatReport(result, 160), 1400, 'capture.png');
  });

  it('over TLS, the three layers side by side (docs/img/capture-tls.png)', async () => {
    const result = await runCapture({ out: join(dir, 'tls'), tls: true });
    assert.equal(result.ok, true);
    await renderAsTerminal(formatReport(result, 200), 1700, 'capture-tls.png');
  });
});
