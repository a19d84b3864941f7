/**
 * The outer HMAC-SHA256 that every chat line carries beside its Fernet token, on Web Crypto so that the page and
 * the server run this same file. Also the HMAC half of the Web Crypto Fernet backend (shared/fernet.ts), whose
 * signing key is 16 bytes.
 */
import { exact, randomBytes } from './bytes.ts';
import type { MaybePromise } from './maybe-promise.ts';

/**
 * HMAC-SHA256 under one key. Web Crypto's answers are promises; node:crypto's (server/node-fernet.ts) are values,
 * and it says so with `synchronous`, so that a record channel over it makes no promise at all.
 */
export interface Mac {
  /** True where sign and verify always return values, never promises. */
  readonly synchronous?: boolean;
  sign(data: Uint8Array): MaybePromise<Uint8Array>;
  /**
   * sign, the tag written into `out` at `offset` instead of returned: only where the backend is synchronous
   * (node:crypto), for a tag that is copied or encoded at once (a Fernet token's HMAC field, a record's MAC), so
   * that no array is made around it.
   */
  signInto?(data: Uint8Array, out: Uint8Array, offset: number): void;
  verify(data: Uint8Array, tag: Uint8Array): MaybePromise<boolean>;
}

/** HMAC-SHA256's output size, and the size of the keys wirechat makes (RFC 2104 §3: at least L = 32 bytes). */
export const MAC_TAG_LENGTH = 32;
export const MAC_KEY_LENGTH = 32;

/**
 * createMac takes exactly 32 bytes: wirechat's keys come from generateMacKey or a 32-byte derivation, so any other
 * length is a bug upstream (a 64-byte pair of keys passed whole, a truncated key) and fails here rather than
 * silently becoming a different key. A bug, not something off the wire, hence a RangeError, not a WirechatError.
 */
export function checkMacKeyLength(key: Uint8Array): void {
  if (key.length !== MAC_KEY_LENGTH) throw new RangeError(`a MAC key is ${MAC_KEY_LENGTH} bytes, not ${key.length}`);
}

/**
 * Imports any non-empty raw key (RFC 4231's test keys are 4 to 131 bytes; Fernet's signing key is 16) as a
 * non-extractable HMAC-SHA256 key that can only sign and verify, then zeroes `raw`: once the CryptoKey exists the
 * raw bytes are the only copy a heap dump or injected script could read, and the CryptoKey cannot be exported.
 * importKey copies the bytes when it is called, so zeroing afterwards cannot corrupt the key.
 */
export async function importHmacKey(raw: Uint8Array): Promise<CryptoKey> {
  if (raw.length === 0) throw new RangeError('an HMAC key cannot be empty');
  const copy = exact(raw);
  try {
    return await globalThis.crypto.subtle.importKey('raw', copy, { name: 'HMAC', hash: 'SHA-256' }, false, [
      'sign',
      'verify',
    ]);
  } finally {
    copy.fill(0);
    raw.fill(0);
  }
}

/** HMAC-SHA256 on a Web Crypto key. A class, not an object of closures: methods on a prototype cost nothing per key. */
class CryptoKeyMac implements Mac {
  readonly #key: CryptoKey;

  constructor(key: CryptoKey) {
    this.#key = key;
  }

  async sign(data: Uint8Array): Promise<Uint8Array> {
    return new Uint8Array(await globalThis.crypto.subtle.sign('HMAC', this.#key, exact(data)));
  }

  async verify(data: Uint8Array, tag: Uint8Array): Promise<boolean> {
    // A tag's length is public (every honest tag is 32 bytes), so refusing a wrong length early leaks nothing.
    if (tag.length !== MAC_TAG_LENGTH) return false;
    // subtle.verify compares in constant time; comparing our own sign() output with === or a loop that exits
    // early would tell an attacker how many leading bytes of a forged tag were right.
    return globalThis.crypto.subtle.verify('HMAC', this.#key, exact(tag), exact(data));
  }
}

export function macFromCryptoKey(key: CryptoKey): Mac {
  return new CryptoKeyMac(key);
}

/** `key` is 32 raw bytes; they are zeroed once imported (see importHmacKey). */
export async function createMac(key: Uint8Array): Promise<Mac> {
  checkMacKeyLength(key);
  return macFromCryptoKey(await importHmacKey(key));
}

export function generateMacKey(): Uint8Array {
  return randomBytes(MAC_KEY_LENGTH);
}
