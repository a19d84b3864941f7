/**
 * server/command-line.ts: the one command-line helper of the server and the tools. Flags are strict, help is
 * help, a mistyped flag says where the help is; and a tool runs as a command from a path with a space or a
 * symbolic link in it, and not when it is only imported.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseFlags, usage, UsageError, wholeNumber } from '../../server/command-line.ts';
import { ROOT } from '../helpers/process.ts';

describe('parseFlags', () => {
  const options = { port: { type: 'string' }, quiet: { type: 'boolean' } } as const;

  it('gives the flags, and the words that are not flags only where allowed', () => {
    // parseArgs gives its values on an object without a prototype; spread, they compare as plain objects.
    const flags = (args: string[], positionals?: boolean) => {
      const parsed = parseFlags(args, options, positionals);
      return parsed === 'help' ? parsed : { values: { ...parsed.values }, positionals: parsed.positionals };
    };
    assert.deepEqual(flags(['--port', '80', '--quiet']), { values: { port: '80', quiet: true }, positionals: [] });
    assert.deepEqual(flags(['a.cpuprofile', '--port', '1'], true), {
      values: { port: '1' },
      positionals: ['a.cpuprofile'],
    });
    assert.throws(() => parseFlags(['a.cpuprofile'], options), UsageError);
  });

  it("answers 'help' to -h and --help, whatever else is there", () => {
    assert.equal(parseFlags(['-h'], options), 'help');
    assert.equal(parseFlags(['--port', '80', '--help'], options), 'help');
  });

  it('refuses an unknown flag and a flag without its value with UsageError', () => {
    assert.throws(
      () => parseFlags(['--fast'], options),
      (error: unknown) => error instanceof UsageError && /--fast/.test(error.message),
    );
    assert.throws(() => parseFlags(['--port'], options), UsageError);
  });
});

describe('wholeNumber', () => {
  it('reads digits within the bounds, gives the fallback when the flag is missing, refuses the rest', () => {
    assert.equal(wholeNumber('42', '--n', 7, 1, 100), 42);
    assert.equal(wholeNumber(undefined, '--n', 7, 1, 100), 7);
    for (const bad of ['', '-1', '1.5', '1e3', ' 4', 'x', '0x10'])
      assert.throws(() => wholeNumber(bad, '--n', 7, 0, 10_000), UsageError, bad);
    assert.throws(() => wholeNumber('0', '--n', 7, 1, 100), /--n must be between 1 and 100, not 0/);
  });
});

describe('usage', () => {
  it('names the command and where its help is, for npm scripts and for plain files', () => {
    assert.equal(usage('mitm', 'bad'), 'wirechat mitm: bad\n(npm run mitm -- --help lists the options)');
    assert.equal(
      usage('npx tsx tools/bench/log.ts', 'bad'),
      'wirechat bench/log: bad\n(npx tsx tools/bench/log.ts --help lists the options)',
    );
  });
});

describe('runAsCommand', () => {
  it('runs a tool started from a folder with a space, or through a symbolic link, and not one that is imported', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wirechat cli '));
    try {
      const helper = pathToFileURL(join(ROOT, 'server', 'command-line.ts')).href;
      const folder = join(dir, 'my tools');
      await mkdir(folder);
      const tool = join(folder, 'tool.ts');
      await writeFile(
        tool,
        `import { runAsCommand } from '${helper}';\nrunAsCommand(import.meta.url, () => { console.log('ran'); return 3; });\n`,
      );
      const importer = join(dir, 'importer.ts');
      await writeFile(importer, `import ${JSON.stringify(pathToFileURL(tool).href)};\nconsole.log('imported');\n`);
      await symlink(folder, join(dir, 'linked'));
      const node = (file: string) =>
        spawnSync(process.execPath, ['--import', 'tsx', file], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });

      const direct = node(tool);
      assert.equal(direct.stdout, 'ran\n', direct.stderr);
      assert.equal(direct.status, 3);
      const linked = node(join(dir, 'linked', 'tool.ts'));
      assert.equal(linked.stdout, 'ran\n', linked.stderr);
      assert.equal(linked.status, 3);
      const imported = node(importer);
      assert.equal(imported.stdout, 'imported\n', imported.stderr);
      assert.equal(imported.status, 0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("every tool's command line", () => {
  const tools = [
    'load',
    'capture',
    'mitm',
    'bench/main',
    'bench/log',
    'bench/codec',
    'bench/profile',
    'protocol-example',
  ];
  for (const tool of tools) {
    it(`tools/${tool}.ts answers --help with exit 0, and a mistyped flag with exit 2 and where the help is`, () => {
      const run = (flag: string) =>
        spawnSync(process.execPath, ['--import', 'tsx', `tools/${tool}.ts`, flag], {
          cwd: ROOT,
          encoding: 'utf8',
          timeout: 60_000,
        });
      const help = run('--help');
      assert.equal(help.status, 0, help.stderr);
      assert.match(help.stdout, /-h, --help/);
      const bad = run('--no-such-flag');
      assert.equal(bad.status, 2, bad.stdout + bad.stderr);
      assert.match(bad.stderr, /^wirechat [a-z/-]+: .*no-such-flag.*\n\(.* --help lists the options\)\n$/);
    });
  }
});
