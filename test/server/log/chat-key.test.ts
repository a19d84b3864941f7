/**
 * The chat key file (server/log/chat-key.ts): made on first use in the format Python's Fernet writes, the same
 * key on every later start, and refused, untouched, when it holds something else.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_CHAT_KEY_PATH, loadChatKey } from '../../../server/log/chat-key.ts';
import { SecretFileError } from '../../../server/secret-file.ts';
import { inTempDir } from '../../helpers/temp.ts';

const inTemp = (run: (dir: string) => Promise<void>) => inTempDir('chat-key', run);

describe('the chat key', () => {
  it('lives beside the identity key by default', () => {
    assert.match(DEFAULT_CHAT_KEY_PATH, /[/\\]\.wirechat[/\\]chat\.key$/);
  });

  it('is made on first use as 44 base64url characters and a newline, 0600, and is the same key after', async () => {
    await inTemp(async (dir) => {
      const path = join(dir, 'wirechat', 'chat.key');
      const first = await loadChatKey(path);
      assert.equal(first.created, true);
      assert.equal(first.key.length, 32);
      const text = await readFile(path, 'utf8');
      assert.match(text, /^[A-Za-z0-9_-]{43}=\n$/);
      assert.deepEqual(new Uint8Array(Buffer.from(text.trim(), 'base64url')), first.key);
      if (process.platform !== 'win32') assert.equal((await stat(path)).mode & 0o777, 0o600);
      const second = await loadChatKey(path);
      assert.equal(second.created, false);
      assert.deepEqual(second.key, first.key);
    });
  });

  it('is one key when several relays start at once on a new file', async () => {
    await inTemp(async (dir) => {
      const path = join(dir, 'chat.key');
      const keys = await Promise.all([loadChatKey(path), loadChatKey(path), loadChatKey(path)]);
      assert.equal(keys.filter((k) => k.created).length, 1);
      assert.deepEqual(keys[1]!.key, keys[0]!.key);
      assert.deepEqual(keys[2]!.key, keys[0]!.key);
    });
  });

  it('takes a key written by hand without the final newline (or with CRLF)', async () => {
    await inTemp(async (dir) => {
      const path = join(dir, 'chat.key');
      const key = Buffer.alloc(32, 7).toString('base64url') + '=';
      for (const text of [key, key + '\r\n']) {
        await writeFile(path, text, { mode: 0o600 });
        assert.deepEqual((await loadChatKey(path)).key, new Uint8Array(32).fill(7));
      }
    });
  });

  it('refuses a file that is not one Fernet key, naming it, and leaves it as it was', async () => {
    await inTemp(async (dir) => {
      const path = join(dir, 'chat.key');
      for (const text of ['', 'not a key\n', 'A'.repeat(44) + '\nextra\n', Buffer.alloc(31).toString('base64url')]) {
        await writeFile(path, text, { mode: 0o600 });
        await assert.rejects(
          loadChatKey(path),
          (error: unknown) =>
            error instanceof SecretFileError && error.code === 'NOT_A_KEY' && error.message.includes(path),
        );
        assert.equal(await readFile(path, 'utf8'), text);
      }
    });
  });

  it(
    'follows the secret-file rules: a key others can read is refused',
    { skip: process.platform === 'win32' && 'no Unix modes' },
    async () => {
      await inTemp(async (dir) => {
        const path = join(dir, 'chat.key');
        await loadChatKey(path);
        await chmod(path, 0o644);
        await assert.rejects(
          loadChatKey(path),
          (error: unknown) => error instanceof SecretFileError && error.code === 'OPEN_TO_OTHERS',
        );
      });
    },
  );
});
