/**
 * The secret-file rules (server/secret-file.ts) on real files: atomic private creation, and every kind of file
 * that must not be trusted with a key refused with its own code and a message naming the file.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, chown, mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createSecretFile,
  MAX_SECRET_BYTES,
  readSecretFile,
  SecretFileError,
  type SecretFileErrorCode,
} from '../../server/secret-file.ts';
import { inTempDir } from '../helpers/temp.ts';

const inTemp = (run: (dir: string) => Promise<void>) => inTempDir('secret', run);

async function refused(path: string, code: SecretFileErrorCode, mentions: RegExp): Promise<void> {
  await assert.rejects(readSecretFile(path, 'the test key'), (error: unknown) => {
    assert.ok(error instanceof SecretFileError, String(error));
    assert.equal(error.code, code, error.message);
    assert.equal(error.path, path);
    assert.match(error.message, mentions);
    return true;
  });
}

const bytes = (text: string) => new TextEncoder().encode(text);
const posix = process.platform !== 'win32';

describe('secret files', () => {
  it('are made 0600 in a new 0700 folder, with exactly the bytes given, and no temporary file left', async () => {
    await inTemp(async (dir) => {
      const path = join(dir, 'keys', 'chat.key');
      assert.equal(await readSecretFile(path, 'the test key'), null, 'none yet');
      assert.equal(await createSecretFile(path, bytes('secret\n')), true);
      assert.equal(await readFile(path, 'utf8'), 'secret\n');
      if (posix) {
        assert.equal((await stat(path)).mode & 0o777, 0o600);
        assert.equal((await stat(join(dir, 'keys'))).mode & 0o777, 0o700);
      }
      assert.deepEqual(await readdir(join(dir, 'keys')), ['chat.key']);
      assert.deepEqual(await readSecretFile(path, 'the test key'), bytes('secret\n'));
    });
  });

  it('are never overwritten: of two made at once, one wins and both read the same bytes', async () => {
    await inTemp(async (dir) => {
      const path = join(dir, 'chat.key');
      const made = await Promise.all([createSecretFile(path, bytes('first')), createSecretFile(path, bytes('second'))]);
      assert.deepEqual(made.filter(Boolean).length, 1);
      const winner = made[0] ? 'first' : 'second';
      assert.equal(await readFile(path, 'utf8'), winner);
      assert.equal(await createSecretFile(path, bytes('third')), false);
      assert.equal(await readFile(path, 'utf8'), winner);
      assert.deepEqual(await readdir(dir), ['chat.key']);
    });
  });

  it('refuses a symbolic link, even to a private file', async () => {
    await inTemp(async (dir) => {
      await createSecretFile(join(dir, 'real.key'), bytes('k'));
      await symlink(join(dir, 'real.key'), join(dir, 'link.key'));
      await refused(join(dir, 'link.key'), 'SYMLINK', /link\.key is a symbolic link/);
    });
  });

  it(
    'refuses a file others can read or write, and says how to fix it',
    { skip: !posix && 'no Unix modes on Windows' },
    async () => {
      await inTemp(async (dir) => {
        const path = join(dir, 'chat.key');
        await createSecretFile(path, bytes('k'));
        for (const mode of [0o644, 0o640, 0o604, 0o620, 0o602]) {
          await chmod(path, mode);
          await refused(path, 'OPEN_TO_OTHERS', new RegExp(`mode 0${mode.toString(8)}.*chmod 600 ${path}`));
        }
        await chmod(path, 0o600);
        assert.deepEqual(await readSecretFile(path, 'the test key'), bytes('k'), 'readable again once private');
        await chmod(path, 0o400);
        assert.deepEqual(await readSecretFile(path, 'the test key'), bytes('k'), 'read-only for its owner is fine');
      });
    },
  );

  it(
    'refuses what is not a regular file: a folder, a FIFO (without hanging)',
    { skip: !posix && 'no FIFOs on Windows' },
    async () => {
      await inTemp(async (dir) => {
        await mkdir(join(dir, 'folder.key'), { mode: 0o700 });
        await refused(join(dir, 'folder.key'), 'NOT_A_FILE', /not a regular file/);
        execFileSync('mkfifo', ['-m', '600', join(dir, 'fifo.key')]);
        await refused(join(dir, 'fifo.key'), 'NOT_A_FILE', /not a regular file/);
      });
    },
  );

  it(
    'refuses a file that belongs to another user',
    { skip: process.getuid?.() !== 0 && 'only root can give a file away' },
    async () => {
      await inTemp(async (dir) => {
        const path = join(dir, 'chat.key');
        await createSecretFile(path, bytes('k'));
        await chown(path, 65534, 65534);
        await refused(path, 'NOT_OWNER', /belongs to another user/);
      });
    },
  );

  it('refuses a file far bigger than any key, without reading it', async () => {
    await inTemp(async (dir) => {
      const path = join(dir, 'big.key');
      await writeFile(path, Buffer.alloc(MAX_SECRET_BYTES + 1), { mode: 0o600 });
      await refused(path, 'TOO_BIG', /not a key/);
    });
  });
});
