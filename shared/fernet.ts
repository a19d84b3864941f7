/**
 * Fernet v0x80 (test/vectors/fernet/Spec.md) on Web Crypto, so the page and the server run the same file.
 *
 * The token format and every check live here once, in spec order; a backend supplies only HMAC-SHA256,
 * AES-128-CBC and optionally a faster base64url (FernetPrimitives). The Web Crypto backend is below;
 * server/node-fernet.ts plugs node:crypto into the same fernetFromPrimitives, so both backends reject the same
 * tokens with the same codes.
 */
import {
  exact,
  fromBase64Url,
  fromBase64UrlPooled,
  PartView,
  randomBytes,
  readU64be,
  toBase64Url,
  writeRandomPublicBytes,
  writeU64be,
} from './bytes.ts';
import { WirechatError } from './errors.ts';
import { importHmacKey, macFromCryptoKey, type Mac } from './mac.ts';
import { andThen, type MaybePromise } from './maybe-promise.ts';

export interface FernetEncryptOptions {
  time?: number;
  iv?: Uint8Array;
}

export interface FernetDecryptOptions {
  ttl?: number;
  now?: number;
  maxClockSkew?: number;
  macVerified?: () => void;
}

export interface Fernet {
  /**
   * True where the backend's primitives return values, not promises (node:crypto): sealToken and openToken then
   * return values too, and throw rather than reject.
   */
  readonly synchronous: boolean;
  /**
   * encrypt without the base64: the token's bytes, a value where the backend is synchronous. Written into `into`
   * when given, which must be exactly fernetTokenLength(plaintext.length) bytes (a caller's reused buffer); over
   * an asynchronous backend the fields are written after awaits, so `into` is the token's until it settles.
   */
  sealToken(plaintext: Uint8Array, options?: FernetEncryptOptions, into?: Uint8Array): MaybePromise<Uint8Array>;
  /** encrypt, a value (or a throw) where the backend is synchronous: the padded base64url token. */
  sealText(plaintext: Uint8Array, options?: FernetEncryptOptions): MaybePromise<string>;
  /** decrypt, a value (or a throw) where the backend is synchronous. */
  openToken(token: string, options?: FernetDecryptOptions): MaybePromise<Uint8Array>;
  /** time in seconds since epoch (default now), iv 16 bytes (default random). Returns the padded base64url token string. */
  encrypt(plaintext: Uint8Array, options?: FernetEncryptOptions): Promise<string>;
  /**
   * ttl seconds (optional, none = no expiry check), now seconds (default Date.now()/1000), maxClockSkew seconds
   * (default 60); macVerified is called once the token's HMAC has matched, before it is decrypted (so the page's
   * inspector is told, not left to guess). Returns plaintext bytes or throws WirechatError.
   */
  decrypt(token: string, options?: FernetDecryptOptions): Promise<Uint8Array>;
}

export const FERNET_VERSION = 0x80;
export const FERNET_KEY_LENGTH = 32;
const HALF_KEY = 16;
const TIMESTAMP_LENGTH = 8;
const IV_LENGTH = 16;
const BLOCK_LENGTH = 16;
const HMAC_LENGTH = 32;
/** Version ‖ Timestamp ‖ IV */
const HEADER_LENGTH = 1 + TIMESTAMP_LENGTH + IV_LENGTH;
const IV_OFFSET = 1 + TIMESTAMP_LENGTH;
/** Spec: Token Format. PKCS #7 always adds at least one byte, so the ciphertext is at least one block. */
export const FERNET_MIN_TOKEN_LENGTH = HEADER_LENGTH + BLOCK_LENGTH + HMAC_LENGTH;
export const DEFAULT_MAX_CLOCK_SKEW = 60;

/**
 * AES-128-CBC with PKCS #7 padding under the encryption key. encrypt writes the ciphertext into `out`, which is
 * exactly cbcCiphertextLength(plaintext.length) bytes (the token's own ciphertext field, so nothing is made to be
 * copied again). decrypt throws FERNET_BAD_PADDING when unpadding fails. `synchronous`: both always return
 * values, never promises (node:crypto).
 */
export interface CbcCipher {
  readonly synchronous?: boolean;
  encrypt(iv: Uint8Array, plaintext: Uint8Array, out: Uint8Array): MaybePromise<void>;
  decrypt(iv: Uint8Array, ciphertext: Uint8Array): MaybePromise<Uint8Array>;
}

/** PKCS #7 always adds 1 to 16 bytes: the ciphertext of `plaintextLength` bytes is the next whole block above it. */
export function cbcCiphertextLength(plaintextLength: number): number {
  return (Math.floor(plaintextLength / BLOCK_LENGTH) + 1) * BLOCK_LENGTH;
}

/** The length of the token, before base64, that carries `plaintextLength` bytes: header, ciphertext, HMAC. */
export function fernetTokenLength(plaintextLength: number): number {
  return HEADER_LENGTH + cbcCiphertextLength(plaintextLength) + HMAC_LENGTH;
}

/**
 * Padded base64url (RFC 4648 §5). decode must accept exactly the canonical padded spelling of some bytes and throw
 * on anything else, as fromBase64Url does for a text whose length is a multiple of 4.
 */
export interface Base64Codec {
  encode(bytes: Uint8Array): string;
  decode(text: string): Uint8Array;
}

/** shared/bytes.ts's strict codec, the one the page uses. */
export const strictBase64Url: Base64Codec = {
  encode: (bytes) => toBase64Url(bytes, true),
  // A token's bytes are read and dropped while it is opened (parseTokenBytes' views included): pooled on Node.
  decode: fromBase64UrlPooled,
};

/**
 * What a backend must supply: HMAC-SHA256 under the signing key, AES-128-CBC under the encryption key, and
 * optionally a faster base64url than bytes.ts's pure JS one (at 64 KiB base64 costs ten times the crypto).
 */
export interface FernetPrimitives {
  mac: Mac;
  cipher: CbcCipher;
  base64?: Base64Codec;
}

/** A token taken apart. `signed` is Version ‖ Timestamp ‖ IV ‖ Ciphertext, the bytes the HMAC covers. */
export interface ParsedToken {
  version: number;
  timestamp: number;
  iv: Uint8Array;
  ciphertext: Uint8Array;
  hmac: Uint8Array;
  signed: Uint8Array;
}

/**
 * Spec: Verifying, step 1. Strict: padding is required (Fernet implementations emit padded tokens) and the codec
 * refuses stray bits and foreign characters, so every token has exactly one spelling and no changed character is
 * silently ignored.
 */
function decodeToken(token: string, base64: Base64Codec): Uint8Array {
  if (typeof token !== 'string') throw new WirechatError('FERNET_BAD_BASE64', 'a Fernet token is a string');
  if (token.length % 4 !== 0) throw new WirechatError('FERNET_BAD_BASE64', 'a Fernet token is padded base64url');
  try {
    return base64.decode(token);
  } catch (error) {
    throw new WirechatError('FERNET_BAD_BASE64', 'a Fernet token is base64url', { cause: error });
  }
}

/**
 * Takes a token apart and checks its structure: Spec: Verifying, steps 1 and 2, with the lengths checked before
 * the version byte is read, because a field that is not there cannot be checked. Throws WirechatError
 * FERNET_BAD_BASE64, FERNET_TOO_SHORT, FERNET_BAD_LENGTH or FERNET_BAD_VERSION. Says nothing about the MAC or the
 * time: the fields are untrusted until Fernet.decrypt has verified them.
 */
export function parseToken(token: string): ParsedToken {
  return parseTokenBytes(decodeToken(token, strictBase64Url));
}

function parseTokenBytes(data: Uint8Array): ParsedToken {
  // A token too short to hold the header and the HMAC has no ciphertext field at all.
  if (data.length < HEADER_LENGTH + HMAC_LENGTH) {
    throw new WirechatError('FERNET_TOO_SHORT', `a Fernet token is at least ${FERNET_MIN_TOKEN_LENGTH} bytes`);
  }
  const ciphertextLength = data.length - HEADER_LENGTH - HMAC_LENGTH;
  // Spec: Token Format, "Ciphertext, variable length, multiple of 128 bits". Checked before the one-block minimum
  // so a token with a ragged ciphertext is reported as such (the spec's "payload size not multiple of block size"
  // vector is 72 bytes, one short of the minimum).
  if (ciphertextLength % BLOCK_LENGTH !== 0) {
    throw new WirechatError('FERNET_BAD_LENGTH', 'a Fernet ciphertext is whole 16-byte blocks');
  }
  if (ciphertextLength === 0) {
    throw new WirechatError('FERNET_TOO_SHORT', `a Fernet token is at least ${FERNET_MIN_TOKEN_LENGTH} bytes`);
  }
  // Spec: Verifying, step 2: 0x80 is the only version; anything else is a format we cannot read.
  if (data[0] !== FERNET_VERSION) throw new WirechatError('FERNET_BAD_VERSION', 'not a Fernet v0x80 token');
  const hmacOffset = data.length - HMAC_LENGTH;
  return {
    version: data[0],
    // Above 2^53 the number is inexact, but such a timestamp is centuries in the future and fails the time check.
    timestamp: readU64be(data, 1),
    iv: data.subarray(1 + TIMESTAMP_LENGTH, HEADER_LENGTH),
    ciphertext: data.subarray(HEADER_LENGTH, hmacOffset),
    hmac: data.subarray(hmacOffset),
    signed: data.subarray(0, hmacOffset),
  };
}

/** A NaN or negative bound would make a comparison silently pass, so an expiry check would never fire. */
function checkSeconds(name: string, value: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new RangeError(`${name} must be a finite number of seconds >= 0, not ${value}`);
  }
  return value;
}

/**
 * Spec: Verifying, step 3, plus the far-future bound every Fernet implementation applies. Done before the HMAC as
 * the spec orders it: an expired token is refused without spending a MAC on it. The timestamp is not yet
 * authenticated here, so a forger can choose which of EXPIRED, FUTURE or BAD_MAC they get, but never plaintext.
 */
function checkTimestamp(timestamp: number, options: { ttl?: number; now?: number; maxClockSkew?: number }): void {
  const now = checkSeconds('now', options.now ?? Date.now() / 1000);
  const maxClockSkew = checkSeconds('maxClockSkew', options.maxClockSkew ?? DEFAULT_MAX_CLOCK_SKEW);
  if (options.ttl !== undefined && now > timestamp + checkSeconds('ttl', options.ttl)) {
    throw new WirechatError('FERNET_EXPIRED', 'the Fernet token is older than its time to live');
  }
  if (timestamp > now + maxClockSkew) {
    throw new WirechatError('FERNET_FUTURE', 'the Fernet token is from too far in the future');
  }
}

/**
 * The views of a token's IV, ciphertext and signed part when it is laid out in a caller's reused buffer (a
 * synchronous record channel's scratch): made once for that buffer, not once per token (three arrays a record).
 */
const ivField = new PartView();
const ciphertextField = new PartView();
const signedPart = new PartView();

/**
 * The token format and the checks, over whatever HMAC and AES the backend gives. Written once for both kinds of
 * backend: each step goes on with andThen, so over node:crypto's synchronous primitives a token is made and
 * checked without a promise, and over Web Crypto's the same steps wait for each answer in the same order.
 */
export function fernetFromPrimitives({ mac, cipher, base64 = strictBase64Url }: FernetPrimitives): Fernet {
  return new PrimitiveFernet(mac, cipher, base64);
}

/**
 * fernetFromPrimitives's codec. A class, not an object of closures: every session holds one, and methods on a
 * prototype cost nothing per instance (tools/bench/heap-diff.ts).
 */
class PrimitiveFernet implements Fernet {
  readonly synchronous: boolean;
  readonly #mac: Mac;
  readonly #cipher: CbcCipher;
  readonly #base64: Base64Codec;

  constructor(mac: Mac, cipher: CbcCipher, base64: Base64Codec) {
    this.#mac = mac;
    this.#cipher = cipher;
    this.#base64 = base64;
    this.synchronous = mac.synchronous === true && cipher.synchronous === true;
  }

  sealToken(plaintext: Uint8Array, options: FernetEncryptOptions = {}, into?: Uint8Array): MaybePromise<Uint8Array> {
    // Spec: Generating, step 1. Seconds, whole: the field is an integer.
    const time = options.time ?? Math.floor(Date.now() / 1000);
    const given = options.iv;
    if (given !== undefined && given.length !== IV_LENGTH)
      throw new RangeError(`a Fernet IV is ${IV_LENGTH} bytes, not ${given.length}`);
    // The token is laid out once and every field written in place: Version ‖ Timestamp ‖ IV ‖ Ciphertext ‖ HMAC.
    const length = fernetTokenLength(plaintext.length);
    if (into !== undefined && into.length !== length)
      throw new RangeError(`a token of ${length} bytes, not ${into.length}`);
    const token = into ?? new Uint8Array(length);
    const hmacOffset = length - HMAC_LENGTH;
    token[0] = FERNET_VERSION;
    writeU64be(token, 1, time); // throws RangeError for a time that is not a u64
    // Spec: Generating, step 2: the IV must be unique per token; 128 random bits are, with overwhelming odds. It
    // is in the token in the clear, so it comes from the pool of public random bytes (bytes.ts: one
    // getRandomValues call per 256 IVs instead of one per token), written straight into the token's field.
    if (given === undefined) writeRandomPublicBytes(token, IV_OFFSET, IV_LENGTH);
    else token.set(given, IV_OFFSET);
    // The fields' views; of a caller's reused buffer (`into`, a scratch), the ones made for it last time.
    const reused = into !== undefined;
    const iv = reused ? ivField.of(token, IV_OFFSET, HEADER_LENGTH) : token.subarray(IV_OFFSET, HEADER_LENGTH);
    const ciphertext = reused
      ? ciphertextField.of(token, HEADER_LENGTH, hmacOffset)
      : token.subarray(HEADER_LENGTH, hmacOffset);
    const signed = reused ? signedPart.of(token, 0, hmacOffset) : token.subarray(0, hmacOffset);
    // Spec: Generating, step 3: PKCS #7 padding and AES-128-CBC, both done by the backend's cipher, straight
    // into the token's ciphertext field. Then steps 4-5 (#sign); over a synchronous backend no closure is made.
    const encrypted = this.#cipher.encrypt(iv, plaintext, ciphertext);
    if (encrypted instanceof Promise) return encrypted.then(() => this.#sign(token, signed, hmacOffset));
    return this.#sign(token, signed, hmacOffset);
  }

  /** Spec: Generating, steps 4-5: the HMAC covers Version ‖ Timestamp ‖ IV ‖ Ciphertext verbatim (`signed`). */
  #sign(token: Uint8Array, signed: Uint8Array, hmacOffset: number): MaybePromise<Uint8Array> {
    const mac = this.#mac;
    if (mac.signInto !== undefined) {
      mac.signInto(signed, token, hmacOffset);
      return token;
    }
    return andThen(mac.sign(signed), (tag) => {
      token.set(tag, hmacOffset);
      return token;
    });
  }

  openToken(token: string, options: FernetDecryptOptions = {}): MaybePromise<Uint8Array> {
    const parsed = parseTokenBytes(decodeToken(token, this.#base64)); // steps 1-2 and the length checks
    checkTimestamp(parsed.timestamp, options); // step 3
    const cipher = this.#cipher;
    // Spec: Verifying, steps 4-5: constant-time verify (the backend's), and nothing is decrypted before it
    // passes, so a forged token never reaches the padding check (no padding oracle).
    return andThen(this.#mac.verify(parsed.signed, parsed.hmac), (verified) => {
      if (!verified) throw new WirechatError('FERNET_BAD_MAC', 'the Fernet token HMAC does not match');
      options.macVerified?.();
      // Spec: Verifying, steps 6-7. With a good MAC a padding failure means the sender was broken, not forged.
      return cipher.decrypt(parsed.iv, parsed.ciphertext);
    });
  }

  // Spec: Generating, step 6, padded like every other Fernet implementation's tokens.
  sealText(plaintext: Uint8Array, options?: FernetEncryptOptions): MaybePromise<string> {
    const base64 = this.#base64;
    return andThen(this.sealToken(plaintext, options), (token) => base64.encode(token));
  }

  async encrypt(plaintext: Uint8Array, options?: FernetEncryptOptions): Promise<string> {
    return this.sealText(plaintext, options);
  }

  async decrypt(token: string, options?: FernetDecryptOptions): Promise<Uint8Array> {
    return this.openToken(token, options);
  }
}

/**
 * Spec: Key Format. A key is 32 raw bytes or their 44-character padded base64url spelling; anything else throws
 * FERNET_BAD_KEY. Returns the raw bytes: the caller's own array, or a fresh one decoded from the string.
 */
export function fernetKeyBytes(key: Uint8Array | string): Uint8Array {
  let raw: Uint8Array;
  if (typeof key === 'string') {
    if (key.length !== 44) throw new WirechatError('FERNET_BAD_KEY', 'a Fernet key is 44 base64url characters');
    try {
      raw = fromBase64Url(key);
    } catch (error) {
      throw new WirechatError('FERNET_BAD_KEY', 'a Fernet key is base64url', { cause: error });
    }
  } else if (key instanceof Uint8Array) {
    raw = key;
  } else {
    throw new WirechatError('FERNET_BAD_KEY', 'a Fernet key is bytes or a base64url string');
  }
  if (raw.length !== FERNET_KEY_LENGTH) {
    throw new WirechatError('FERNET_BAD_KEY', `a Fernet key is ${FERNET_KEY_LENGTH} bytes, not ${raw.length}`);
  }
  return raw;
}

/** Spec: Key Format: Signing-key ‖ Encryption-key, 16 bytes each. Views, not copies, so zeroing `raw` reaches them. */
export function splitFernetKey(raw: Uint8Array): { signing: Uint8Array; encryption: Uint8Array } {
  return { signing: raw.subarray(0, HALF_KEY), encryption: raw.subarray(HALF_KEY, FERNET_KEY_LENGTH) };
}

/**
 * Imports a 32-byte Fernet key as two non-extractable CryptoKeys with only the usages Fernet needs (HMAC-SHA256:
 * sign+verify; AES-CBC: encrypt+decrypt), then zeroes `raw`: after import a heap dump or an injected script can
 * find no raw key bytes, and the CryptoKeys cannot be exported. Exported so a test can try to export them.
 */
export async function importFernetKeys(raw: Uint8Array): Promise<{ signing: CryptoKey; encryption: CryptoKey }> {
  const { signing, encryption } = splitFernetKey(fernetKeyBytes(raw));
  const encryptionCopy = exact(encryption);
  try {
    return {
      signing: await importHmacKey(signing),
      encryption: await globalThis.crypto.subtle.importKey('raw', encryptionCopy, 'AES-CBC', false, [
        'encrypt',
        'decrypt',
      ]),
    };
  } finally {
    encryptionCopy.fill(0);
    raw.fill(0);
  }
}

/** AES-128-CBC on a Web Crypto key; a class for the same reason as PrimitiveFernet. */
class WebCryptoCbc implements CbcCipher {
  readonly #key: CryptoKey;

  constructor(key: CryptoKey) {
    this.#key = key;
  }

  async encrypt(iv: Uint8Array, plaintext: Uint8Array, out: Uint8Array): Promise<void> {
    // Web Crypto's AES-CBC applies PKCS #7 (Spec: Generating, step 3.1) itself.
    const ciphertext = new Uint8Array(
      await globalThis.crypto.subtle.encrypt({ name: 'AES-CBC', iv: exact(iv) }, this.#key, exact(plaintext)),
    );
    if (ciphertext.length !== out.length) throw new RangeError(`AES-CBC gave ${ciphertext.length} bytes`);
    out.set(ciphertext);
  }

  async decrypt(iv: Uint8Array, ciphertext: Uint8Array): Promise<Uint8Array> {
    try {
      return new Uint8Array(
        await globalThis.crypto.subtle.decrypt({ name: 'AES-CBC', iv: exact(iv) }, this.#key, exact(ciphertext)),
      );
    } catch (error) {
      // Spec: Verifying, step 7. Web Crypto reports bad PKCS #7 padding as an OperationError; the key and the
      // block-aligned length are already known good, so that is the only OperationError left.
      if ((error as { name?: unknown } | null)?.name === 'OperationError') {
        throw new WirechatError('FERNET_BAD_PADDING', 'the Fernet plaintext padding is wrong', { cause: error });
      }
      throw error;
    }
  }
}

/**
 * A Fernet codec on Web Crypto. `key` is 32 raw bytes (zeroed once imported, see importFernetKeys) or the 44-char
 * base64url key (a string cannot be zeroed; the bytes decoded from it are).
 */
export async function createFernet(key: Uint8Array | string): Promise<Fernet> {
  const { signing, encryption } = await importFernetKeys(fernetKeyBytes(key));
  return fernetFromPrimitives({ mac: macFromCryptoKey(signing), cipher: new WebCryptoCbc(encryption) });
}

export function generateFernetKey(): Uint8Array {
  return randomBytes(FERNET_KEY_LENGTH);
}

/** The 44-character padded base64url spelling of a raw key (Spec: Key Format), as other implementations take it. */
export function encodeFernetKey(raw: Uint8Array): string {
  return toBase64Url(fernetKeyBytes(raw), true);
}
