/**
 * The server's long-term identity: an ECDSA P-256 key pair (supported by Web Crypto in Chromium, Firefox and
 * Safari alike) that signs every handshake. Made on first run and kept in a file only its owner can read, as
 * ssh keeps its host keys; the page pins its fingerprint on first use.
 *
 * The file is opened without following a symbolic link (a link is refused, and its target never touched), and made
 * atomically: the key is written to a fresh temporary file first, then linked into place, which fails rather than
 * overwrite. Two servers starting at once on a fresh home folder thus end up with the same key, and neither fails.
 */
import { constants } from 'node:fs';
import { link, lstat, mkdir, open, readlink, stat, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { fingerprint } from '../shared/handshake.ts';

export interface Identity {
  /** Non-extractable, sign only: once loaded, the process can use the key but not leak its bytes. */
  signingKey: CryptoKey;
  /** SPKI DER of the public key, sent in every welcome. */
  publicKey: Uint8Array;
  fingerprint: string;
  path: string;
  created: boolean;
}

/** A problem with the identity file, worded for the operator (main.ts prints it without a stack trace). */
export class IdentityError extends Error {
  override readonly name = 'IdentityError';
}

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;

/** Where the platform has it (not Windows), opening a symbolic link fails instead of following it. */
const NOFOLLOW = constants.O_NOFOLLOW ?? 0;

export async function loadIdentity(path: string): Promise<Identity> {
  const subtle = globalThis.crypto.subtle;
  let jwk = await readKeyFile(path);
  let created = false;
  // Another server may make the file between our look and our link: then we read the one it made. Bounded, in
  // case something keeps making and removing it.
  for (let attempt = 0; jwk === undefined; attempt++) {
    if (attempt === 3) throw new IdentityError(`cannot make the identity key ${path}: it keeps appearing and vanishing`);
    const pair = await subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
    const made = await subtle.exportKey('jwk', pair.privateKey);
    if (await createKeyFile(path, JSON.stringify(made) + '\n')) {
      jwk = made;
      created = true;
    } else {
      jwk = await readKeyFile(path);
    }
  }
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.d !== 'string') {
    throw new IdentityError(`${path} is not an ECDSA P-256 private key (JWK)`);
  }
  const signingKey = await subtle.importKey('jwk', { ...jwk, key_ops: ['sign'] }, ALGORITHM, false, ['sign']);
  const { d: _private, key_ops: _ops, ...publicJwk } = jwk;
  const verifyKey = await subtle.importKey('jwk', { ...publicJwk, key_ops: ['verify'] }, ALGORITHM, true, ['verify']);
  const publicKey = new Uint8Array(await subtle.exportKey('spki', verifyKey));
  return { signingKey, publicKey, fingerprint: await fingerprint(publicKey), path, created };
}

/** The key file's JWK, or undefined when there is no file at `path` (nor a link). */
async function readKeyFile(path: string): Promise<JsonWebKey | undefined> {
  // Where O_NOFOLLOW is missing, a look first (a race remains there, and only there).
  if (NOFOLLOW === 0) await refuseLink(path, await lstat(path).catch(() => undefined));
  let handle;
  try {
    // O_NONBLOCK: a FIFO planted at the path must not hang the start; it is refused below as not a file.
    handle = await open(path, constants.O_RDONLY | NOFOLLOW | (constants.O_NONBLOCK ?? 0));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    // ELOOP (EMLINK on FreeBSD): the path is a symbolic link, dangling or not.
    if (code === 'ELOOP' || code === 'EMLINK') await refuseLink(path, await lstat(path).catch(() => undefined));
    throw new IdentityError(`cannot read the identity key ${path}: ${(error as Error).message}`);
  }
  let text: string;
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new IdentityError(`the identity key ${path} is not a regular file`);
    if (process.platform !== 'win32' && (info.mode & 0o077) !== 0) {
      // ssh refuses group- or world-readable keys; tightening is kinder than refusing for a teaching tool. Through
      // the open handle (fchmod), so it is this file that changes and never what a link points to.
      await handle.chmod(0o600);
    }
    text = await handle.readFile('utf8');
  } catch (error) {
    if (error instanceof IdentityError) throw error;
    throw new IdentityError(`cannot read the identity key ${path}: ${(error as Error).message}`);
  } finally {
    await handle.close();
  }
  try {
    return JSON.parse(text) as JsonWebKey;
  } catch {
    throw new IdentityError(`cannot read the identity key ${path}: it is not JSON`);
  }
}

async function refuseLink(path: string, info: { isSymbolicLink(): boolean } | undefined): Promise<void> {
  if (info === undefined || !info.isSymbolicLink()) return;
  const target = await readlink(path).catch(() => '?');
  const dangling = await stat(path).then(() => false, () => true);
  throw new IdentityError(
    `the identity key ${path} is a symbolic link (to ${target}${dangling ? ', which does not exist' : ''}): ` +
      'refused, and nothing was changed. Give --identity the real file, or remove the link to make a new key',
  );
}

/**
 * Writes the key to a fresh temporary file (mode 0600, fsync'd) and links it to `path`, which fails if anything is
 * there already: never a half-written key, never an overwritten one. False when another process got there first.
 */
async function createKeyFile(path: string, text: string): Promise<boolean> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const temp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | NOFOLLOW, 0o600);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await link(temp, path);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    // A file system without hard links: create the file itself exclusively (a reader racing us could then see it
    // half-written, and is told it is not JSON; the next start reads it whole).
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS') return createInPlace(path, text);
    throw new IdentityError(`cannot save the identity key ${path}: ${(error as Error).message}`);
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}

async function createInPlace(path: string, text: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | NOFOLLOW, 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new IdentityError(`cannot save the identity key ${path}: ${(error as Error).message}`);
  }
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return true;
}
