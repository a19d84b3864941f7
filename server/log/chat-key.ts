/**
 * The chat key: a Fernet key that seals every entry of an SQLite or Redis chat log at rest (server/log/sealed.ts), kept beside
 * the identity key under the same rules (server/secret-file.ts). Every relay of one chat holds the same key
 * file, as they hold the same identity. The file is the key as Python's `Fernet.generate_key()` writes it (44
 * base64url characters and a newline), so a student can open a history entry by hand (docs/history.md).
 *
 * A memory log dies with its process, so it needs no file: `ephemeralChatKey()` gives the seats a key that never
 * leaves memory (the memory log's entries are not sealed at all: server/log/sealed.ts, inProcessSealer).
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fromUtf8, utf8 } from '../../shared/bytes.ts';
import { encodeFernetKey, fernetKeyBytes, generateFernetKey } from '../../shared/fernet.ts';
import { createSecretFile, readSecretFile, SecretFileError } from '../secret-file.ts';

export const DEFAULT_CHAT_KEY_PATH = join(homedir(), '.wirechat', 'chat.key');
const WHAT = 'the chat key';

export interface ChatKey {
  /** 32 bytes; the log's sealer zeroes them once imported. */
  key: Uint8Array;
  path: string;
  created: boolean;
}

/** Reads the chat key at `path`, or makes one there on first use. Throws SecretFileError, naming the file. */
export async function loadChatKey(path: string = DEFAULT_CHAT_KEY_PATH): Promise<ChatKey> {
  let created = false;
  let data = await readSecretFile(path, WHAT);
  if (data === null) {
    created = await createSecretFile(path, utf8(encodeFernetKey(generateFernetKey()) + '\n'));
    data = await readSecretFile(path, WHAT);
    if (data === null) throw new SecretFileError('UNREADABLE', path, `${WHAT} ${path} vanished as it was made`);
  }
  return { key: parseChatKey(data, path), path, created };
}

function parseChatKey(data: Uint8Array, path: string): Uint8Array {
  try {
    return fernetKeyBytes(fromUtf8(data).replace(/\r?\n$/, ''));
  } catch (error) {
    throw new SecretFileError(
      'NOT_A_KEY',
      path,
      `${path} is not a chat key: it should hold one Fernet key, 44 base64url characters`,
      { cause: error },
    );
  } finally {
    data.fill(0);
  }
}

export function ephemeralChatKey(): Uint8Array {
  return generateFernetKey();
}
