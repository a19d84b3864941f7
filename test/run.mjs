#!/usr/bin/env node
// Runs the test files with Node's own test runner, TypeScript loaded by tsx. Node 20's --test takes no glob, so
// the files are listed here. `node test/run.mjs [unit|e2e|all] [filter,filter...]` (default: all); a file runs
// when its path contains any of the filters.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const [kind = 'all', filter = ''] = process.argv.slice(2);
if (kind === '--help' || kind === '-h') {
  console.log('usage: node test/run.mjs [unit|e2e|all] [substrings of test file paths, comma-separated]');
  process.exit(0);
}

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : path.endsWith('.test.ts') ? [path] : [];
  });
}

const files = walk(join(root, 'test'))
  .map((path) => relative(root, path))
  .filter((path) =>
    kind === 'all' ? true : kind === 'e2e' ? path.startsWith('test/e2e/') : !path.startsWith('test/e2e/'),
  )
  .filter((path) => filter.split(',').some((part) => path.includes(part)))
  .sort();
if (files.length === 0) {
  console.error(`no test files match ${kind} ${filter}`);
  process.exit(1);
}
// `unit` needs no browser and no terminal, as the README says: a test file outside test/e2e/ that reaches for either
// belongs in test/e2e/. (CHROMIUM_PATH=/nonexistent node test/run.mjs unit checks the same thing by running.)
const E2E_ONLY = /from '(?:\.\.\/)+helpers\/(?:browser|page|a11y)\.ts'|from 'playwright-core'|\btmux\b/;
const misplaced = files.filter(
  (path) => !path.startsWith('test/e2e/') && E2E_ONLY.test(readFileSync(join(root, path), 'utf8')),
);
if (misplaced.length > 0) {
  console.error(`these launch a browser or a terminal, so they belong in test/e2e/:\n  ${misplaced.join('\n  ')}`);
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-timeout=300000', ...files],
  { cwd: root, stdio: 'inherit' },
);
process.exit(result.status ?? 1);
