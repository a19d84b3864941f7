/**
 * The rules for a file that holds a secret (a key), as ssh applies them to its private keys: the file is created
 * atomically, readable by its owner only (in a folder made 0700 when missing); and a file that is a symlink, is
 * not a regular file, belongs to someone else or can be read by others is refused, with a message saying how
 * to fix it. Refusing beats tightening: a key others could read may already be copied, and the person should
 * know. Windows has no Unix modes, so only the symlink and regular-file rules apply there.
 */
import { constants } from 'node:fs';
import { link, lstat, mkdir, open, readlink, stat, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';

export type SecretFileErrorCode =
  'SYMLINK' | 'NOT_A_FILE' | 'OPEN_TO_OTHERS' | 'NOT_OWNER' | 'TOO_BIG' | 'UNREADABLE' | 'NOT_A_KEY';

export class SecretFileError extends Error {
  override readonly name = 'SecretFileError';
  readonly code: SecretFileErrorCode;
  readonly path: string;

  constructor(code: SecretFileErrorCode, path: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.path = path;
  }
}

const POSIX = process.platform !== 'win32';
/** Far more than any key; a bigger file is not a key, and is not read into memory. */
export const MAX_SECRET_BYTES = 64 * 1024;

/**
 * The bytes of the secret file at `path`, or null when there is none. Opened with O_NOFOLLOW and checked through
 * the open descriptor, so the file checked is the file read (no swap between a stat and the read).
 */
export async function readSecretFile(path: string, what: string): Promise<Uint8Array | null> {
  let handle;
  try {
    // O_NONBLOCK: opening a FIFO planted at the path must not hang the start.
    handle = await open(path, constants.O_RDONLY | (POSIX ? constants.O_NOFOLLOW | constants.O_NONBLOCK : 0));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    // ELOOP (EMLINK on FreeBSD): the path is a symbolic link, dangling or not. Its target is never touched.
    if (code === 'ELOOP' || code === 'EMLINK')
      throw new SecretFileError('SYMLINK', path, `${what} ${path} ${await describeLink(path)}`);
    throw new SecretFileError('UNREADABLE', path, `cannot read ${what} ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new SecretFileError('NOT_A_FILE', path, `${what} ${path} is not a regular file`);
    if (POSIX && (info.mode & 0o077) !== 0) {
      const mode = (info.mode & 0o777).toString(8).padStart(4, '0');
      throw new SecretFileError(
        'OPEN_TO_OTHERS',
        path,
        `${what} ${path} can be read or changed by other users (mode ${mode}); make it private with: chmod 600 ${path}`,
      );
    }
    if (POSIX && process.getuid && info.uid !== process.getuid()) {
      throw new SecretFileError(
        'NOT_OWNER',
        path,
        `${what} ${path} belongs to another user (uid ${info.uid}); keys are read only from your own files`,
      );
    }
    if (info.size > MAX_SECRET_BYTES)
      throw new SecretFileError('TOO_BIG', path, `${what} ${path} is ${info.size} bytes: not a key`);
    return new Uint8Array(await handle.readFile());
  } finally {
    await handle.close();
  }
}

/**
 * Creates the secret file with `data`, mode 0600, in a folder made 0700 if it is missing. Atomic: the bytes go
 * to a private temporary file, are flushed to disk, and are then linked to `path`, which never exists half
 * written, and is never overwritten (link fails if the name is taken). Returns false when another process made
 * the file first; the caller then reads theirs.
 */
export async function createSecretFile(path: string, data: Uint8Array): Promise<boolean> {
  const folder = dirname(path);
  await mkdir(folder, { recursive: true, mode: 0o700 });
  const temporary = join(folder, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temporary, 'wx', 0o600);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await link(temporary, path);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    // A file system without hard links: create the file itself exclusively (a reader racing us could then see it
    // half-written and refuse it as not a key; the next start reads it whole).
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS')
      return createInPlace(path, data);
    throw error;
  } finally {
    await unlink(temporary);
    await syncFolder(folder);
  }
}

async function createInPlace(path: string, data: Uint8Array): Promise<boolean> {
  let handle;
  try {
    handle = await open(
      path,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (POSIX ? constants.O_NOFOLLOW : 0),
      0o600,
    );
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return true;
}

/** "is a symbolic link (to T, which does not exist): refused, and nothing was changed", for the operator. */
async function describeLink(path: string): Promise<string> {
  const info = await lstat(path).catch(() => undefined);
  if (info === undefined || !info.isSymbolicLink())
    return 'could not be opened without following a link: refused, and nothing was changed';
  const target = await readlink(path).catch(() => '?');
  const dangling = await stat(path).then(
    () => false,
    () => true,
  );
  return `is a symbolic link (to ${target}${dangling ? ', which does not exist' : ''}): refused, and nothing was changed`;
}

/** The new name is durable only once its folder is flushed (POSIX); Windows cannot open a folder to flush it. */
async function syncFolder(folder: string): Promise<void> {
  if (!POSIX) return;
  const handle = await open(folder, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
