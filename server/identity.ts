/**
 * The server's long-term identity: an ECDSA P-256 key pair (supported by Web Crypto in Chromium, Firefox and
 * Safari alike) that signs every handshake. Made on first run and kept in a file only its owner can read, as
 * ssh keeps its host keys; the page pins its fingerprint on first use.
 */
import { mkdir, readFile, writeFile, chmod, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
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

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;

export async function loadIdentity(path: string): Promise<Identity> {
  const subtle = globalThis.crypto.subtle;
  let jwk: JsonWebKey;
  let created = false;
  try {
    jwk = JSON.parse(await readFile(path, 'utf8')) as JsonWebKey;
    const mode = (await stat(path)).mode & 0o777;
    if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
      // ssh refuses group- or world-readable keys; tightening is kinder than refusing for a teaching tool.
      await chmod(path, 0o600);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new Error(`cannot read the identity key ${path}: ${(error as Error).message}`);
    }
    const pair = await subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
    jwk = await subtle.exportKey('jwk', pair.privateKey);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    // 'wx': never overwrite a key another process made in the meantime.
    await writeFile(path, JSON.stringify(jwk) + '\n', { mode: 0o600, flag: 'wx' });
    created = true;
  }
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.d !== 'string') {
    throw new Error(`${path} is not an ECDSA P-256 private key (JWK)`);
  }
  const signingKey = await subtle.importKey('jwk', { ...jwk, key_ops: ['sign'] }, ALGORITHM, false, ['sign']);
  const { d: _private, key_ops: _ops, ...publicJwk } = jwk;
  const verifyKey = await subtle.importKey('jwk', { ...publicJwk, key_ops: ['verify'] }, ALGORITHM, true, ['verify']);
  const publicKey = new Uint8Array(await subtle.exportKey('spki', verifyKey));
  return { signingKey, publicKey, fingerprint: await fingerprint(publicKey), path, created };
}
