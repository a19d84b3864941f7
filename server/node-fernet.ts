/**
 * The same Fernet codec and outer MAC on node:crypto, for the server. Web Crypto in Node hands every call to the
 * libuv thread pool and back; createHmac and createCipheriv run synchronously in the caller's thread, far cheaper
 * for chat-sized messages. Only the primitives are here: the token format, check order and error codes are
 * shared/fernet.ts's fernetFromPrimitives, the same code the Web Crypto backend runs, with bytes.ts's base64url
 * (Node's own codec on Node, held to the one canonical spelling).
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createSecretKey,
  timingSafeEqual,
  type KeyObject,
} from 'node:crypto';
import type { CryptoBackend } from '../shared/crypto-backend.ts';
import { WirechatError } from '../shared/errors.ts';
import { fernetFromPrimitives, fernetKeyBytes, splitFernetKey, type CbcCipher, type Fernet } from '../shared/fernet.ts';
import { checkMacKeyLength, MAC_TAG_LENGTH, type Mac } from '../shared/mac.ts';

/** AES's block size in bytes. */
const BLOCK = 16;

/** A plain Uint8Array view of a Buffer, so results compare equal to the Web Crypto backend's. */
function plain(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/**
 * createSecretKey copies the bytes into a KeyObject, so the caller's copy is zeroed straight after: the raw key
 * then lives only inside the KeyObject (node:crypto has no non-extractable keys; the point is that no stray
 * Uint8Array of key bytes stays on the JS heap).
 */
function secretKey(raw: Uint8Array): KeyObject {
  try {
    return createSecretKey(raw);
  } finally {
    raw.fill(0);
  }
}

/**
 * HMAC-SHA256 under a node:crypto KeyObject. A class, not an object of closures: a session holds several of these
 * codecs, and methods on a prototype cost nothing per instance (tools/bench/heap-diff.ts).
 */
class NodeMac implements Mac {
  // Answers at once: a record channel over this backend seals and opens without a promise. (A getter on the
  // prototype, not a field on each of a session's codecs.)
  get synchronous(): true {
    return true;
  }

  readonly #key: KeyObject;

  constructor(key: KeyObject) {
    this.#key = key;
  }

  sign(data: Uint8Array): Uint8Array {
    return plain(createHmac('sha256', this.#key).update(data).digest());
  }

  signInto(data: Uint8Array, out: Uint8Array, offset: number): void {
    // The digest's bytes copied where they go, without sign's plain view of them (an array, and three property
    // loads V8 does not inline on a Buffer: about 700 instructions a tag).
    out.set(createHmac('sha256', this.#key).update(data).digest(), offset);
  }

  verify(data: Uint8Array, candidate: Uint8Array): boolean {
    // Lengths are public (every honest tag is 32 bytes), and timingSafeEqual throws on unequal lengths.
    if (candidate.length !== MAC_TAG_LENGTH) return false;
    // Constant time: an early-exit compare would tell a forger how many leading bytes were right. The digest is
    // compared as the Buffer it is: sign's plain view of it would be one more array per check, for nothing.
    return timingSafeEqual(createHmac('sha256', this.#key).update(data).digest(), candidate);
  }
}

/** HMAC-SHA256 under any non-empty key (RFC 4231's test keys too); createMac narrows it to 32 bytes. */
export function nodeMacFromKey(raw: Uint8Array): Mac {
  if (raw.length === 0) throw new RangeError('an HMAC key cannot be empty');
  return new NodeMac(secretKey(raw));
}

/**
 * AES-128-CBC over whole blocks, the PKCS #7 padding done here (Spec: Generating, step 3.1; Verifying, step 7):
 * one update() call each way, whose single output is the whole result, instead of update() and final() and the
 * two outputs joined. The padding rule is the one OpenSSL's applies, held to it and to Web Crypto's by the Fernet
 * vectors and the cross-backend tests.
 */
class NodeCbc implements CbcCipher {
  get synchronous(): true {
    return true;
  }

  readonly #key: KeyObject;

  constructor(key: KeyObject) {
    this.#key = key;
  }

  encrypt(iv: Uint8Array, plaintext: Uint8Array, out: Uint8Array): void {
    const padding = BLOCK - (plaintext.length % BLOCK);
    if (out.length !== plaintext.length + padding) throw new RangeError(`AES-CBC out is ${out.length} bytes`);
    // The padded plaintext is laid out where its ciphertext goes, then encrypted over itself.
    out.set(plaintext);
    out.fill(padding, plaintext.length);
    const cipher = createCipheriv('aes-128-cbc', this.#key, iv).setAutoPadding(false);
    out.set(cipher.update(out));
  }

  decrypt(iv: Uint8Array, ciphertext: Uint8Array): Uint8Array {
    // Fernet's parser has already refused a ciphertext that is not whole blocks, at least one.
    const decipher = createDecipheriv('aes-128-cbc', this.#key, iv).setAutoPadding(false);
    const padded = decipher.update(ciphertext);
    if (padded.length < BLOCK) throw new WirechatError('FERNET_BAD_PADDING', 'the Fernet plaintext padding is wrong');
    // This runs only on a token whose HMAC matched (so only on what the key's holder made): no padding oracle.
    // The check still looks at all 16 last bytes whatever they hold, as OpenSSL's does.
    const padding = padded[padded.length - 1]!;
    let bad = padding === 0 || padding > BLOCK ? 1 : 0;
    for (let i = 1; i <= BLOCK; i++) bad |= (i <= padding ? 1 : 0) & (padded[padded.length - i] !== padding ? 1 : 0);
    if (bad !== 0) {
      throw new WirechatError('FERNET_BAD_PADDING', 'the Fernet plaintext padding is wrong');
    }
    // One plain view of the plaintext (not a plain view of the whole and then a subarray of that).
    return new Uint8Array(padded.buffer, padded.byteOffset, padded.length - padding);
  }
}

function nodeCbc(raw: Uint8Array): CbcCipher {
  return new NodeCbc(secretKey(raw));
}

/** 32 raw bytes (or the 44-char base64url key), zeroed once imported. */
export async function createNodeFernet(key: Uint8Array | string): Promise<Fernet> {
  const raw = fernetKeyBytes(key);
  try {
    const { signing, encryption } = splitFernetKey(raw);
    return fernetFromPrimitives({ mac: nodeMacFromKey(signing), cipher: nodeCbc(encryption) });
  } finally {
    raw.fill(0);
  }
}

/** 32 raw bytes, zeroed once imported. */
export async function createNodeMac(key: Uint8Array): Promise<Mac> {
  checkMacKeyLength(key);
  return nodeMacFromKey(key);
}

export const nodeCryptoBackend: CryptoBackend = { createFernet: createNodeFernet, createMac: createNodeMac };
