/**
 * The page-load bench's baseline (tools/bench/browser.ts): the key-pair-only page is served by the bench's own
 * server next to the page, so it comes with the page's security headers, Cross-Origin-Opener-Policy above all
 * (without it Chromium keeps the navigation in the blank page's renderer, and the page alone pays for a new one),
 * and its script is a file under the page's CSP, as the page's first script is. Chromium's side of it (the loads,
 * and the bench refusing a baseline whose headers differ from the page's) is test/e2e/bench.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SECURITY_HEADERS } from '../../server/http-guard.ts';
import { KEY_PAIR_ONLY_PAGE, withKeyPairOnlyPage } from '../../tools/bench/browser.ts';
import { ServerChild } from '../../tools/bench/net.ts';

describe('the key-pair-only page (bench baseline)', () => {
  it("is served by the bench's server with the page's headers, its script a file the CSP allows", async () => {
    const dist = await mkdtemp(join(tmpdir(), 'wirechat-test-dist-'));
    await mkdir(join(dist, 'assets'));
    await writeFile(
      join(dist, 'index.html'),
      '<!doctype html><title>page</title><script src="/assets/page.js"></script>',
    );
    await writeFile(join(dist, 'assets', 'page.js'), '');
    const pages = await withKeyPairOnlyPage(dist);
    const server = await ServerChild.start('secure', { dist: pages.root });
    try {
      const page = await fetch(server.httpUrl);
      const only = await fetch(`${server.httpUrl}${KEY_PAIR_ONLY_PAGE}`);
      assert.equal(page.status, 200);
      assert.equal(only.status, 200);
      assert.equal(only.headers.get('cross-origin-opener-policy'), 'same-origin');
      for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
        assert.equal(only.headers.get(name), value, name);
        assert.equal(only.headers.get(name), page.headers.get(name), name);
      }
      assert.match(only.headers.get('content-type') ?? '', /^text\/html/);
      // No inline script: the CSP (script-src 'self', no hash) would refuse it, as it would the page's.
      const html = await only.text();
      assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/);
      const src = /<script src="([^"]+)"><\/script>/.exec(html)?.[1] ?? '';
      assert.ok(src?.startsWith('/'), html);
      const script = await fetch(new URL(src, server.httpUrl));
      assert.equal(script.status, 200);
      assert.match(script.headers.get('content-type') ?? '', /^text\/javascript/);
      assert.equal(script.headers.get('cross-origin-opener-policy'), 'same-origin');
      assert.match(await script.text(), /generateKey\([\s\S]*RSA-OAEP[\s\S]*modulusLength: 3072/);
      // The page itself is served from the copy unchanged.
      assert.match(await page.text(), /<title>page<\/title>/);
    } finally {
      await server.stop();
      await pages.remove();
      await rm(dist, { recursive: true });
    }
    assert.equal(existsSync(pages.root), false, 'the copy is removed');
  });
});
