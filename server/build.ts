/**
 * Builds the page with Vite when dist/ is missing or older than its sources, so that `npm run server` is all a
 * new user needs after `npm install`.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

async function newest(path: string): Promise<number> {
  let info;
  try {
    info = await stat(path);
  } catch {
    return 0;
  }
  if (!info.isDirectory()) return info.mtimeMs;
  const entries = await readdir(path);
  const times = await Promise.all(entries.map((entry) => newest(join(path, entry))));
  return Math.max(info.mtimeMs, ...times);
}

export async function pageIsStale(root: string): Promise<boolean> {
  const built = await newest(join(root, 'dist', 'index.html'));
  if (built === 0) return true;
  const sources = await Promise.all(
    ['web', 'shared', 'index.html', 'vite.config.ts', 'package-lock.json'].map((p) => newest(join(root, p))),
  );
  return Math.max(...sources) > built;
}

export async function buildPage(root: string): Promise<void> {
  const { build } = await import('vite');
  await build({ root, configFile: join(root, 'vite.config.ts'), logLevel: 'warn' });
}
