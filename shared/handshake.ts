/**
 * The key exchange, as both sides run it:
 *
 * 1. The page makes an RSA-OAEP key pair (SHA-256, 3072 bits; the private key non-extractable) and sends the
 *    public key (SPKI) with a fresh nonce in `hello`.
 * 2. The server picks a fresh Fernet key and a fresh HMAC key, wraps both with that public key, and signs the
 *    transcript (everything both sides said, see `transcript`) with its long-term ECDSA P-256 identity key.
 * 3. The page checks the signature against the server key it trusts (first use, or pinned) before it unwraps.
 *
 * A relay that swaps the page's public key for its own cannot re-sign the transcript without the server's
 * private key, and signing with its own key changes the fingerprint the page has pinned.
 */
import { WirechatError } from './errors.ts';
import { concat, exact, toBase64Url, toHex, u64be, utf8 } from './bytes.ts';
import { PROTOCOL_VERSION, type Mode } from './protocol.ts';
import { readRsaSpki } from './rsa-spki.ts';

export { RSA_MAX_BITS, RSA_MIN_BITS } from './rsa-spki.ts';

const subtle = () => globalThis.crypto.subtle;

export const RSA_MODULUS_BITS = 3072;
/** RSA-OAEP label: binds the ciphertext to its purpose, so a wrapped-keys blob means nothing anywhere else. */
const OAEP_LABEL = utf8('wirechat-session-keys-v1');
const RSA_OAEP = { name: 'RSA-OAEP', hash: 'SHA-256' } as const;
const ECDSA_KEY = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const ECDSA_SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;

export const NONCE_BYTES = 32;
export const SESSION_ID_BYTES = 16;
/** The wrapped secret: a Fernet key (32 bytes) then an HMAC key (32 bytes). */
export const SESSION_SECRET_BYTES = 64;

/**
 * The page's key pair. The private key is non-extractable and may only decrypt: even script injected into the
 * page can use it while the page lives but cannot copy it out.
 */
export function generateClientKeyPair(modulusLength: number = RSA_MODULUS_BITS): Promise<CryptoKeyPair> {
  return subtle().generateKey(
    { ...RSA_OAEP, modulusLength, publicExponent: new Uint8Array([1, 0, 1]) },
    false,
    ['encrypt', 'decrypt'],
  );
}

export async function exportSpki(key: CryptoKey): Promise<Uint8Array> {
  return new Uint8Array(await subtle().exportKey('spki', key));
}

/**
 * Imports the page's public key and refuses what a careful server should (shared/rsa-spki.ts, the one reader both
 * backends use): anything that is not an RSA SPKI in strict DER, moduli that are negative, even or outside
 * 2048..4096 bits (too weak, or a CPU sink for the server), and exponents other than 65537 (e = 1 would
 * "encrypt" to the plaintext itself).
 */
export async function importClientPublicKey(spki: Uint8Array): Promise<CryptoKey> {
  readRsaSpki(spki);
  try {
    return await subtle().importKey('spki', exact(spki), RSA_OAEP, false, ['encrypt']);
  } catch (cause) {
    // Fixed words: the library's message stays in `cause`, never reaches the peer.
    throw new WirechatError('HANDSHAKE_BAD_KEY', 'the public key is not an RSA SubjectPublicKeyInfo in DER', { cause });
  }
}

export async function wrapSessionSecret(publicKey: CryptoKey, secret: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await subtle().encrypt({ name: 'RSA-OAEP', label: exact(OAEP_LABEL) }, publicKey, exact(secret)));
}

export async function unwrapSessionSecret(
  privateKey: CryptoKey,
  wrapped: Uint8Array,
): Promise<{ fernetKey: Uint8Array; macKey: Uint8Array }> {
  let secret: Uint8Array;
  try {
    secret = new Uint8Array(
      await subtle().decrypt({ name: 'RSA-OAEP', label: exact(OAEP_LABEL) }, privateKey, exact(wrapped)),
    );
  } catch (cause) {
    throw new WirechatError('HANDSHAKE_UNWRAP_FAILED', 'the wrapped keys do not open with this page\'s private key', { cause });
  }
  if (secret.length !== SESSION_SECRET_BYTES) {
    throw new WirechatError('HANDSHAKE_UNWRAP_FAILED', `the wrapped secret has ${secret.length} bytes, not ${SESSION_SECRET_BYTES}`);
  }
  return { fernetKey: secret.slice(0, 32), macKey: secret.slice(32) };
}

export interface TranscriptFields {
  mode: Mode;
  clientPublicKey: Uint8Array;
  clientNonce: Uint8Array;
  name: string;
  serverKey: Uint8Array;
  serverNonce: Uint8Array;
  sessionId: Uint8Array;
  time: number;
  wrappedKeys: Uint8Array;
}

function field(bytes: Uint8Array): Uint8Array {
  const length = new Uint8Array(4);
  new DataView(length.buffer).setUint32(0, bytes.length);
  return concat(length, bytes);
}

/**
 * What the server signs: every value of the handshake, each with a 4-byte big-endian length before it so no two
 * different handshakes share a transcript, led by a label and the protocol version so a signature made here
 * means nothing in any other protocol or version.
 */
export function transcript(f: TranscriptFields): Uint8Array {
  return concat(
    utf8('wirechat-handshake'),
    u64be(PROTOCOL_VERSION),
    field(utf8(f.mode)),
    field(f.clientPublicKey),
    field(f.clientNonce),
    field(utf8(f.name)),
    field(f.serverKey),
    field(f.serverNonce),
    field(f.sessionId),
    u64be(f.time),
    field(f.wrappedKeys),
  );
}

export async function signTranscript(identity: CryptoKey, data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await subtle().sign(ECDSA_SIGN, identity, exact(data)));
}

export async function importServerKey(spki: Uint8Array): Promise<CryptoKey> {
  try {
    return await subtle().importKey('spki', exact(spki), ECDSA_KEY, false, ['verify']);
  } catch (cause) {
    throw new WirechatError('HANDSHAKE_BAD_KEY', 'the server key is not an ECDSA P-256 SPKI', { cause });
  }
}

export async function verifyTranscript(serverKey: Uint8Array, data: Uint8Array, signature: Uint8Array): Promise<void> {
  const key = await importServerKey(serverKey);
  const ok = signature.length === 64 && (await subtle().verify(ECDSA_SIGN, key, exact(signature), exact(data)));
  if (!ok) {
    throw new WirechatError('HANDSHAKE_BAD_SIGNATURE', 'the handshake signature does not verify with the server key');
  }
}

export async function sha256(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await subtle().digest('SHA-256', exact(data)));
}

/**
 * The server's fingerprint, as people compare it: SHA-256 of its SPKI in 16 groups of four hex digits, the
 * way one reads a long number aloud. The console prints the same string.
 */
export async function fingerprint(serverKey: Uint8Array): Promise<string> {
  return (toHex(await sha256(serverKey)).toUpperCase().match(/.{4}/g) ?? []).join(' ');
}

const CODE_ALPHABET = '23456789ABCDEFGHJKMNPQRSTUVWXYZ'; // no 0/O, 1/I/L: read aloud without doubt

/**
 * A short code for one session, from its transcript: two people who see the same code are in the same session.
 * About 40 bits (8 characters of 31), shown as XXXX-XXXX. The signature is left out on purpose: ECDSA
 * signatures are malleable ((r, s) and (r, n - s) both verify), so anyone on the path could change a code that
 * depended on it without breaking anything; the transcript is unique per session (nonces, session id) and fixed.
 */
export async function sessionCode(data: Uint8Array): Promise<string> {
  const digest = await sha256(concat(utf8('wirechat-session-code'), data));
  let out = '';
  for (let i = 0; i < 8; i++) out += CODE_ALPHABET[digest[i]! % CODE_ALPHABET.length];
  return `${out.slice(0, 4)}-${out.slice(4)}`;
}

export function b64(bytes: Uint8Array): string {
  return toBase64Url(bytes);
}
