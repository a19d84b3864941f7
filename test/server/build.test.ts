import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pageIsStale } from '../../server/build.ts';

async function tree(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'wirechat-build-'));
  for (const dir of ['web/components', 'shared', 'dist']) await mkdir(join(root, dir), { recursive: true });
  for (const file of ['web/components/a.ts', 'shared/b.ts', 'index.html', 'vite.config.ts'])
    await writeFile(join(root, file), '');
  return root;
}

const at = (root: string, file: string, seconds: number) => utimes(join(root, file), seconds, seconds);

describe('rebuilding the page only when needed', () => {
  it('is stale when dist/index.html is missing', async () => {
    const root = await tree();
    try {
      assert.equal(await pageIsStale(root), true);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('is fresh when the build is newer than every source, and stale once any source is newer', async () => {
    const root = await tree();
    try {
      await writeFile(join(root, 'dist', 'index.html'), '');
      for (const file of [
        'web/components/a.ts',
        'web/components',
        'web',
        'shared/b.ts',
        'shared',
        'index.html',
        'vite.config.ts',
      ]) {
        await at(root, file, 1_000_000);
      }
      await at(root, 'dist/index.html', 2_000_000);
      assert.equal(await pageIsStale(root), false);
      await at(root, 'web/components/a.ts', 3_000_000);
      assert.equal(await pageIsStale(root), true, 'a component edited after the build');
      await at(root, 'web/components/a.ts', 1_000_000);
      await at(root, 'index.html', 3_000_000);
      assert.equal(await pageIsStale(root), true, 'index.html edited after the build');
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
