/**
 * The server's long-term identity: an ECDSA P-256 key pair (supported by Web Crypto in Chromium, Firefox and
 * Safari alike) that signs every handshake. Made on first run and kept in a file only its owner can read, as
 * ssh keeps its host keys; the page pins its fingerprint on first use.
 *
 * The file follows server/secret-file.ts's rules, as the chat key does: opened without following a symbolic link
 * (a link is refused, and its target never touched), refused when others can read it, and made atomically (a fresh
 * temporary file linked into place, which fails rather than overwrite). Two servers starting at once on a fresh
 * home folder thus end up with the same key, and neither fails.
 */
import { fingerprint } from '../shared/handshake.ts';
import { createSecretFile, readSecretFile, SecretFileError } from './secret-file.ts';

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
const WHAT = 'the identity key';

export async function loadIdentity(path: string): Promise<Identity> {
  const subtle = globalThis.crypto.subtle;
  let jwk = await readKeyFile(path);
  let created = false;
  // Another server may make the file between our look and our link: then we read the one it made. Bounded, in
  // case something keeps making and removing it.
  for (let attempt = 0; jwk === undefined; attempt++) {
    if (attempt === 3)
      throw new IdentityError(`cannot make the identity key ${path}: it keeps appearing and vanishing`);
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
  let bytes: Uint8Array | null;
  try {
    bytes = await readSecretFile(path, WHAT);
  } catch (error) {
    if (error instanceof SecretFileError && error.code === 'SYMLINK') {
      throw new IdentityError(`${error.message}. Give --identity the real file, or remove the link to make a new key`);
    }
    throw new IdentityError(
      error instanceof SecretFileError ? error.message : `cannot read ${WHAT} ${path}: ${(error as Error).message}`,
    );
  }
  if (bytes === null) return undefined;
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as JsonWebKey;
  } catch {
    throw new IdentityError(`cannot read ${WHAT} ${path}: it is not JSON`);
  }
}

/** Never a half-written key, never an overwritten one. False when another process got there first. */
async function createKeyFile(path: string, text: string): Promise<boolean> {
  try {
    return await createSecretFile(path, new TextEncoder().encode(text));
  } catch (error) {
    throw new IdentityError(`cannot save ${WHAT} ${path}: ${(error as Error).message}`);
  }
}
