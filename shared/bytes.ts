/**
 * Byte helpers that both the page and the server run. Nothing here touches Node's Buffer or the DOM, so the
 * same file works under Vite and under Node 20.
 */
import { WirechatError } from './errors.ts';

const encoder = new TextEncoder();
// fatal: a line that is not valid UTF-8 is an error, never a string with U+FFFD in it.
const decoder = new TextDecoder('utf-8', { fatal: true });

export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/**
 * utf8(text).length without making the bytes: a line's size is checked on every line the relay takes, and an
 * array of more than 64 bytes costs more to make than the counting. A lone surrogate counts as U+FFFD, 3 bytes,
 * as utf8 writes it.
 */
export function utf8Length(text: string): number {
  let bytes = text.length; // one byte per unit, plus what wider characters add
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) continue;
    if (unit < 0x800) {
      bytes += 1;
      continue;
    }
    // 3 bytes for the rest of the BMP and for a lone surrogate; a pair's two units make one 4-byte character.
    bytes += 2;
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
    }
  }
  return bytes;
}

export function fromUtf8(bytes: Uint8Array): string {
  try {
    return decoder.decode(bytes);
  } catch {
    throw new WirechatError('BAD_UTF8', 'bytes are not valid UTF-8');
  }
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
// 65536 entries: any UTF-16 code unit indexes it directly, -1 for all but the 64 digits (no range check per char).
const LOOKUP = new Int8Array(65536).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) LOOKUP[ALPHABET.charCodeAt(i)] = i;

const ALPHABET_CODES = utf8(ALPHABET);
// Bytes 0x00-0x7f decode to the same code points in every single-byte label, and base64 is ASCII.
const ascii = new TextDecoder('latin1');

/** The length of `byteLength` bytes in base64url: whole groups of 4, or fewer characters for the rest unpadded. */
export function base64UrlLength(byteLength: number, pad = false): number {
  const rest = byteLength % 3;
  return ((byteLength - rest) / 3) * 4 + (rest === 0 ? 0 : pad ? 4 : rest + 1);
}

/**
 * RFC 4648 §5 base64url, with '=' padding when `pad` is set, written as ASCII into `out` at `offset` (which must
 * have base64UrlLength(bytes.length, pad) bytes of room); returns the offset after it. A record's frame is built
 * this way in one buffer, its token and MAC encoded straight into the JSON text that goes on the wire.
 */
export function writeBase64Url(bytes: Uint8Array, out: Uint8Array, offset: number, pad = false): number {
  const whole = bytes.length - (bytes.length % 3);
  const o = writeBase64UrlGroups(bytes, 0, whole, out, offset);
  return whole < bytes.length ? writeBase64UrlRest(bytes, whole, out, o, offset, pad) : o;
}

/** The whole 3-byte groups of `bytes` from `from` to `to` (a multiple of 3 past `from`) as digits at `at`; the end. */
function writeBase64UrlGroups(bytes: Uint8Array, from: number, to: number, out: Uint8Array, at: number): number {
  // The table in a local: a module binding is loaded again at every use in the loop (issue 14's seventh pass: a
  // quarter fewer instructions a token this way).
  const codes = ALPHABET_CODES;
  let o = at;
  for (let i = from; i < to; i += 3, o += 4) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out[o] = codes[n >>> 18]!;
    out[o + 1] = codes[(n >>> 12) & 63]!;
    out[o + 2] = codes[(n >>> 6) & 63]!;
    out[o + 3] = codes[n & 63]!;
  }
  return o;
}

/** The last 1 or 2 bytes of `bytes` (from `whole` on) as 2 or 3 digits at `o`, padded to a group of 4 when `pad`. */
function writeBase64UrlRest(
  bytes: Uint8Array,
  whole: number,
  out: Uint8Array,
  at: number,
  offset: number,
  pad: boolean,
): number {
  const codes = ALPHABET_CODES;
  const rest = bytes.length - whole;
  const n = (bytes[whole]! << 16) | (rest === 2 ? bytes[whole + 1]! << 8 : 0);
  let o = at;
  out[o++] = codes[n >>> 18]!;
  out[o++] = codes[(n >>> 12) & 63]!;
  if (rest === 2) out[o++] = codes[(n >>> 6) & 63]!;
  if (pad) while ((o - offset) % 4 !== 0) out[o++] = 61; // '='
  return o;
}

/**
 * Two base64url digits for every 12 bits, first digit in the low byte: a pair as the little-endian bytes of a
 * 16-bit unit, so that two pairs make a 32-bit unit written little-endian, whatever this platform's byte order.
 * Made on first use (the page never asks).
 */
let digitPairs: Uint32Array | undefined;

function digitPairTable(): Uint32Array {
  if (digitPairs !== undefined) return digitPairs;
  const table = new Uint32Array(4096);
  for (let i = 0; i < 4096; i++) table[i] = ALPHABET_CODES[i >>> 6]! | (ALPHABET_CODES[i & 63]! << 8);
  return (digitPairs = table);
}

/**
 * writeBase64Url twelve bytes at a time, read and written through DataViews: `source` over the memory of `bytes`
 * and `target` over that of `out`, each from the same start as its array (Scratch.writeBase64Url makes sure of
 * it). Three big-endian 32-bit reads make four groups of 24 bits, and each group's four digits are one
 * little-endian 32-bit write of two table pairs. Per-element access to a typed array that TurboFan cannot see
 * through re-checks the array at every access (about 80 instructions a 3-byte group in the seal, issue 14's
 * seventh pass); this way a record's token and tag cost about 6,700 instructions against 11,100 (eighth pass). The
 * last 0-11 bytes as writeBase64Url writes them.
 */
function writeBase64UrlQuads(
  bytes: Uint8Array,
  source: DataView,
  out: Uint8Array,
  target: DataView,
  offset: number,
  pad: boolean,
): number {
  if (offset + base64UrlLength(bytes.length, pad) > out.length)
    throw new RangeError(`no room for ${bytes.length} bytes of base64url at ${offset} of ${out.length}`);
  const pairs = digitPairTable();
  const quads = bytes.length - (bytes.length % 12);
  let o = offset;
  for (let i = 0; i < quads; i += 12, o += 16) {
    const a = source.getUint32(i);
    const b = source.getUint32(i + 4);
    const c = source.getUint32(i + 8);
    const g0 = a >>> 8;
    const g1 = ((a & 0xff) << 16) | (b >>> 16);
    const g2 = ((b & 0xffff) << 8) | (c >>> 24);
    const g3 = c & 0xffffff;
    target.setUint32(o, pairs[g0 >>> 12]! | (pairs[g0 & 4095]! << 16), true);
    target.setUint32(o + 4, pairs[g1 >>> 12]! | (pairs[g1 & 4095]! << 16), true);
    target.setUint32(o + 8, pairs[g2 >>> 12]! | (pairs[g2 & 4095]! << 16), true);
    target.setUint32(o + 12, pairs[g3 >>> 12]! | (pairs[g3 & 4095]! << 16), true);
  }
  const whole = bytes.length - (bytes.length % 3);
  o = writeBase64UrlGroups(bytes, quads, whole, out, o);
  return whole < bytes.length ? writeBase64UrlRest(bytes, whole, out, o, offset, pad) : o;
}

/**
 * Node's own base64 codec, where there is one (the server, the tools, the tests); undefined on the page, which
 * runs the codec in JS below. A handshake carries about 1.2 KiB of base64url (the page's key in its hello; the
 * wrapped keys, the signature and the server's key in the welcome), and the JS codec cost the server about 50
 * instructions a byte against a few for Node's (docs/benchmarks.md, issue 14's sixth pass). Both give the same
 * strings and accept the same spellings: test/shared/bytes.test.ts runs the same vectors through each.
 */
const nodeBuffer = (globalThis as { Buffer?: NodeBuffer }).Buffer;

/** What is used here of Node's Buffer, written out: the page's tsconfig has no Node types. */
interface NodeBuffer {
  from(buffer: ArrayBufferLike, byteOffset: number, length: number): NodeBufferView;
  from(text: string, encoding: 'base64url'): Uint8Array;
  byteLength(text: string, encoding: 'utf8'): number;
  prototype: NodeBufferView;
}
interface NodeBufferView {
  toString(encoding: 'base64url'): string;
  write(text: string, offset: number, length: number, encoding: 'base64url'): number;
}

/**
 * Buffer's methods, looked up once rather than on every call: in the server those lookups missed V8's inline
 * caches, about 1,000 instructions each under callgrind, as much as the encoding of a key.
 */
const bufferFrom: NodeBuffer['from'] | undefined = nodeBuffer?.from.bind(nodeBuffer);
const bufferToString = nodeBuffer?.prototype.toString;
const bufferWrite = nodeBuffer?.prototype.write;
const utf8ByteLength = nodeBuffer?.byteLength.bind(nodeBuffer);

/**
 * RFC 4648 §5 base64url, with '=' padding when `pad` is set (Fernet tokens and keys are padded): Node's codec
 * where there is one, toBase64UrlJs elsewhere.
 */
export function toBase64Url(bytes: Uint8Array, pad = false): string {
  if (bufferFrom === undefined || bufferToString === undefined) return toBase64UrlJs(bytes, pad);
  const text = bufferToString.call(bufferFrom(bytes.buffer, bytes.byteOffset, bytes.byteLength), 'base64url');
  // Node never pads base64url: 2 characters for the last byte ('=='), 3 for the last two ('=').
  return !pad || text.length % 4 === 0 ? text : text + (text.length % 4 === 2 ? '==' : '=');
}

/**
 * toBase64Url in JS, as the page runs it. Writes character codes into one buffer and decodes it once: building
 * the string with += is quadratic-ish in V8 for 64 KiB tokens and was the codec's bottleneck.
 */
export function toBase64UrlJs(bytes: Uint8Array, pad = false): string {
  const out = new Uint8Array(base64UrlLength(bytes.length, pad));
  writeBase64Url(bytes, out, 0, pad);
  return ascii.decode(out);
}

/** ASCII bytes (base64, JSON made of ASCII) as a string. */
export function fromAscii(bytes: Uint8Array): string {
  return ascii.decode(bytes);
}

/**
 * Strict RFC 4648 §5 decoding: only the URL-safe alphabet, '=' only as trailing padding, and no stray bits in
 * the last character, so that every byte string has exactly one accepted spelling (a bit flipped in the text
 * is never silently ignored). Node's codec where there is one, for the text it can show is canonical; the JS
 * decoder for the rest (and on the page).
 */
export function fromBase64Url(text: string): Uint8Array {
  return (bufferFrom !== undefined && fromCanonicalBase64UrlNode(text, false)) || fromBase64UrlJs(text);
}

/**
 * fromBase64Url into Node's shared 8 KiB pool where there is one, for bytes that are used and dropped within the
 * call that decodes them (a Fernet token while it is opened), never kept: a kept view would keep its whole pool.
 * A Uint8Array of its own costs more than the decoding: 363 bytes of memory outside V8's heap took 2.2-2.7 µs here
 * against 0.55 µs for the pooled decode (issue 14's sixth pass). On the page, the same as fromBase64Url.
 */
export function fromBase64UrlPooled(text: string): Uint8Array {
  return (bufferFrom !== undefined && fromCanonicalBase64UrlNode(text, true)) || fromBase64UrlJs(text);
}

/** The base64url digits whose value has its low 2 (or 4) bits clear: what may end a group of 3 (or 2) digits. */
const LOW_2_CLEAR = 'AEIMQUYcgkosw048';
const LOW_4_CLEAR = 'AQgw';

/**
 * fromBase64Url with Node's codec, for text that is the canonical spelling of its bytes; undefined for any other
 * (then fromBase64UrlJs refuses it, naming what is wrong). Node's decoder is lenient: it skips characters outside
 * its alphabet, takes base64's '+' and '/' too, stops at a stray '=', drops leftover bits, and reads a character
 * above U+00FF by its low byte. So the text is held to the one canonical spelling by looking at it, not by spelling
 * the bytes again, which cost more (1.11 against 0.71 µs a 473-byte token in issue 14's fourth pass).
 * `pooled`: decode into Node's pool (fromBase64UrlPooled), else into memory of the bytes' own.
 */
function fromCanonicalBase64UrlNode(text: string, pooled: boolean): Uint8Array | undefined {
  if (bufferFrom === undefined || bufferWrite === undefined || utf8ByteLength === undefined) return undefined;
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 61 /* = */) end--;
  const padding = text.length - end;
  const rest = end % 4;
  if (padding > 2 || (padding > 0 && text.length % 4 !== 0) || rest === 1) return undefined;
  const length = Math.floor((end * 3) / 4);
  let out: Uint8Array;
  let written: number;
  if (pooled) {
    const bytes = bufferFrom(text, 'base64url');
    out = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    written = bytes.byteLength;
  } else {
    out = new Uint8Array(length);
    written = bufferWrite.call(bufferFrom(out.buffer, 0, length), text, 0, length, 'base64url');
  }
  if (
    // every character before the padding was taken as a digit: one skipped, or an '=' inside, makes fewer bytes
    written !== length ||
    // one byte per character: nothing above U+007F (its UTF-8 length counts those as more)
    utf8ByteLength(text, 'utf8') !== text.length ||
    text.includes('+') ||
    text.includes('/') ||
    // no stray bits: a last group of 3 digits ends in one with its low 2 bits clear, of 2 digits its low 4
    (rest !== 0 && !(rest === 3 ? LOW_2_CLEAR : LOW_4_CLEAR).includes(text[end - 1]!))
  ) {
    return undefined;
  }
  return out;
}

/** fromBase64Url in JS, as the page runs it. */
export function fromBase64UrlJs(text: string): Uint8Array {
  const end = base64UrlDigits(text);
  const out = new Uint8Array(Math.floor((end * 3) / 4));
  decodeBase64Url(text, end, out);
  return out;
}

/** How many digits `text` has before its padding, which must be right: fromBase64Url's first check. */
function base64UrlDigits(text: string): number {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 61 /* = */) end--;
  const padding = text.length - end;
  if (padding > 2 || (padding > 0 && text.length % 4 !== 0)) {
    throw new WirechatError('BAD_BASE64', 'base64url padding is wrong');
  }
  if (end % 4 === 1) throw new WirechatError('BAD_BASE64', 'base64url length is impossible');
  return end;
}

/** fromBase64Url's decoding of the `end` digits of `text` into `out`, exactly floor(end * 3 / 4) bytes. */
function decodeBase64Url(text: string, end: number, out: Uint8Array): void {
  const whole = end - (end % 4);
  let o = 0;
  for (let i = 0; i < whole; i += 4) {
    const a = LOOKUP[text.charCodeAt(i)]!;
    const b = LOOKUP[text.charCodeAt(i + 1)]!;
    const c = LOOKUP[text.charCodeAt(i + 2)]!;
    const d = LOOKUP[text.charCodeAt(i + 3)]!;
    // A -1 anywhere makes the OR negative: one test per group, and base64Digit names the bad character.
    if ((a | b | c | d) < 0) for (let j = i; j < i + 4; j++) base64Digit(text, j);
    const n = (a << 18) | (b << 12) | (c << 6) | d;
    out[o++] = n >> 16;
    out[o++] = (n >> 8) & 0xff;
    out[o++] = n & 0xff;
  }
  const rest = end - whole;
  if (rest > 0) {
    // 2 characters carry 1 byte (4 spare bits), 3 carry 2 bytes (2 spare bits); the spare bits must be zero.
    const n =
      (base64Digit(text, whole) << 18) |
      (base64Digit(text, whole + 1) << 12) |
      (rest === 3 ? base64Digit(text, whole + 2) << 6 : 0);
    if ((rest === 2 ? n & 0xffff : n & 0xff) !== 0) {
      throw new WirechatError('BAD_BASE64', 'base64url has stray trailing bits');
    }
    out[o++] = n >> 16;
    if (rest === 3) out[o++] = (n >> 8) & 0xff;
  }
}

/**
 * The value of the base64url character at `i`, or BAD_BASE64 naming where it is. A module function, not a closure
 * made per decode: under tsx (how the server runs) every function made names itself with a property write.
 */
function base64Digit(text: string, i: number): number {
  const value = LOOKUP[text.charCodeAt(i)]!;
  if (value < 0) throw new WirechatError('BAD_BASE64', `not a base64url character at ${i}`);
  return value;
}

export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}

/**
 * Compares in time that depends only on the lengths: every byte is visited and no early exit reveals where the
 * first difference is. Lengths are public (a MAC's length is fixed), so checking them first leaks nothing.
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Big-endian unsigned 64-bit, for sequence numbers and Fernet timestamps (exact up to 2^53). */
export function u64be(value: number): Uint8Array {
  const out = new Uint8Array(8);
  writeU64be(out, 0, value);
  return out;
}

/**
 * Writes `value` as 8 big-endian bytes at `offset`: u64be without the allocation, for callers that build a
 * message in one buffer (every record MAC input has a sequence number in it).
 */
export function writeU64be(out: Uint8Array, offset: number, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`not a u64: ${value}`);
  const high = Math.floor(value / 2 ** 32);
  const low = value >>> 0;
  out[offset] = high >>> 24;
  out[offset + 1] = (high >>> 16) & 0xff;
  out[offset + 2] = (high >>> 8) & 0xff;
  out[offset + 3] = high & 0xff;
  out[offset + 4] = low >>> 24;
  out[offset + 5] = (low >>> 16) & 0xff;
  out[offset + 6] = (low >>> 8) & 0xff;
  out[offset + 7] = low & 0xff;
}

/**
 * Reads 8 big-endian bytes at `offset` (exact up to 2^53). From the bytes, not through a DataView: a view made per
 * call (every record opened reads a Fernet timestamp) cost more than the arithmetic, and `.buffer` of a small
 * array makes V8 give it an ArrayBuffer of its own.
 */
export function readU64be(bytes: Uint8Array, offset: number): number {
  if (!Number.isInteger(offset) || offset < 0 || offset + 8 > bytes.length)
    throw new RangeError(`no 8 bytes at ${offset} of ${bytes.length}`);
  const high =
    ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>> 0;
  const low =
    ((bytes[offset + 4]! << 24) | (bytes[offset + 5]! << 16) | (bytes[offset + 6]! << 8) | bytes[offset + 7]!) >>> 0;
  return high * 2 ** 32 + low;
}

export function randomBytes(length: number): Uint8Array {
  return globalThis.crypto.getRandomValues(new Uint8Array(length));
}

const POOL_BYTES = 4096;
let pool: Uint8Array | undefined;
let poolOffset = POOL_BYTES;

/**
 * Random bytes for values that are public the moment they are used: Fernet IVs (in the token, in the clear),
 * nonces, session ids. Never for keys: those come from randomBytes and go straight into a key object. Drawn from
 * a 4 KiB buffer that one getRandomValues call fills, because in Node each call costs about as much as the AES of
 * a chat line, and the relay seals one record, so one IV, per recipient. Every byte is handed out once and zeroed
 * in the buffer as it goes, so no two values share bytes and none lingers after use.
 */
export function randomPublicBytes(length: number): Uint8Array {
  if (length > POOL_BYTES / 16) return randomBytes(length);
  const out = new Uint8Array(length);
  writeRandomPublicBytes(out, 0, length);
  return out;
}

/**
 * randomPublicBytes written into `out` at `offset`, for a value laid out in place (a Fernet token's IV): no array
 * of its own, which in the server cost more than the copy (a 16-byte array is made in V8's heap, and node:crypto
 * then moves it out of the heap to read it, about 1,200 instructions a token: issue 14's seventh pass). At most
 * 256 bytes at a time.
 */
export function writeRandomPublicBytes(out: Uint8Array, offset: number, length: number): void {
  if (length > POOL_BYTES / 16) throw new RangeError(`at most ${POOL_BYTES / 16} public random bytes at a time`);
  if (!Number.isInteger(offset) || offset < 0 || offset + length > out.length)
    throw new RangeError(`no ${length} bytes at ${offset} of ${out.length}`);
  if (pool === undefined || poolOffset + length > POOL_BYTES) {
    pool = globalThis.crypto.getRandomValues(pool ?? new Uint8Array(POOL_BYTES));
    poolOffset = 0;
  }
  const from = pool;
  const start = poolOffset;
  for (let i = 0; i < length; i++) {
    out[offset + i] = from[start + i]!;
    from[start + i] = 0;
  }
  poolOffset += length;
}

/** A copy whose buffer is exactly its bytes, as Web Crypto's BufferSource wants. */
export function exact(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(bytes);
}

/**
 * The most a Scratch keeps: a call for more gets memory of its own, dropped with the call, so that nothing sent to
 * or from the server (a record's token from the wire, the largest body it ever sealed) makes a scratch grow past
 * this and stay grown. A chat line's record is a few KiB.
 */
export const SCRATCH_LIMIT = 64 * 1024;

/**
 * A buffer reused for bytes that are made and dropped within one synchronous call: a record's plaintext and its
 * Fernet token before the base64, a record MAC's input. In V8 an array of more than 64 bytes lives outside the
 * heap, and making one (about 1 µs, and the GC's bookkeeping after) costs more than the HMAC over it.
 *
 * The rule for a caller: a view from `take` or `utf8` is good until the next call on the same Scratch, so it must
 * not be kept, returned, or held over an await; only code that runs to completion uses one (the record channel
 * over node:crypto, never over Web Crypto). The buffer grows to the largest length asked for, up to SCRATCH_LIMIT
 * (beyond it a call gets memory of its own), and is made on first use, so the page, which never asks, never has
 * one.
 */
export class Scratch {
  #buffer: Uint8Array | undefined;
  /** The last view handed out: a call for the same length gets it again instead of a new view (about 0.1 µs). */
  #view: Uint8Array | undefined;
  /** The last view of the buffer from an offset on (utf8After). */
  #tailView: Uint8Array | undefined;
  #tailBase: Uint8Array | undefined;
  #tailOffset = 0;
  /** A DataView of the buffer (writeBase64Url), and the buffer it is of. */
  #data: DataView | undefined;
  #dataOf: Uint8Array | undefined;

  /** `length` bytes of the scratch, as they were left. */
  take(length: number): Uint8Array {
    return this.#viewOf(this.#room(length), length);
  }

  /** `text` as UTF-8 in the scratch, the bytes utf8 would give (a lone surrogate becomes U+FFFD). */
  utf8(text: string): Uint8Array {
    let buffer = this.#room(text.length); // enough when the text is ASCII, as most is
    const first = encoder.encodeInto(text, buffer);
    let written = first.written;
    if (first.read !== text.length) {
      // encodeInto stopped short; UTF-8 takes at most 3 bytes per UTF-16 unit.
      buffer = this.#room(text.length * 3);
      ({ written } = encoder.encodeInto(text, buffer));
    }
    return this.#viewOf(buffer, written);
  }

  /**
   * utf8, after `offset` bytes left for the caller to write (a record MAC's input: its fixed part, then the token's
   * text). A method of its own, not a parameter of utf8, so that the seal's path (utf8 of the plaintext) stays as
   * it was while the open's changes.
   */
  utf8After(offset: number, text: string): Uint8Array {
    let buffer = this.#room(offset + text.length);
    let { read, written } = encoder.encodeInto(text, this.#tail(buffer, offset));
    if (read !== text.length) {
      buffer = this.#room(offset + text.length * 3);
      ({ read, written } = encoder.encodeInto(text, this.#tail(buffer, offset)));
    }
    return this.#viewOf(buffer, offset + written);
  }

  /**
   * writeBase64Url of `bytes` into `into` at `offset`, where `into` is the view this scratch handed out last
   * (take, utf8...) and `bytes` the view another scratch, `source`, handed out last: twelve bytes at a time
   * through DataViews of the two buffers, each made once per buffer (writeBase64UrlQuads). Any other arrays are
   * written as writeBase64Url writes them. Returns the offset after the text.
   */
  writeBase64Url(into: Uint8Array, offset: number, source: Scratch, bytes: Uint8Array, pad = false): number {
    // The last view is always of the current buffer, from its start (#viewOf); memory of a call's own is not.
    if (into !== this.#view || source === this || bytes !== source.#view)
      return writeBase64Url(bytes, into, offset, pad);
    return writeBase64UrlQuads(bytes, source.#dataView(), into, this.#dataView(), offset, pad);
  }

  /** A DataView of the whole buffer, the last one made while the buffer is the same. */
  #dataView(): DataView {
    const buffer = this.#buffer!;
    if (this.#dataOf !== buffer) {
      this.#data = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
      this.#dataOf = buffer;
    }
    return this.#data!;
  }

  /** The bytes of a base64url `text` (strict, as fromBase64Url decodes it) in the scratch. */
  base64Url(text: string): Uint8Array {
    const end = base64UrlDigits(text);
    const length = Math.floor((end * 3) / 4);
    const out = this.#viewOf(this.#room(length), length);
    decodeBase64Url(text, end, out);
    return out;
  }

  /** The buffer from `offset` on, the last such view when it is of this buffer at this offset. */
  #tail(buffer: Uint8Array, offset: number): Uint8Array {
    if (offset === 0) return buffer;
    if (buffer !== this.#buffer) return buffer.subarray(offset); // memory of the call's own: not kept
    const last = this.#tailView;
    if (last !== undefined && this.#tailBase === buffer && this.#tailOffset === offset) return last;
    this.#tailBase = buffer;
    this.#tailOffset = offset;
    return (this.#tailView = buffer.subarray(offset));
  }

  /**
   * The first `length` bytes of `buffer`, the last view when it has that length and `buffer` is the scratch's own:
   * the buffer grows only for more bytes than it holds, so a view of the same length is always of the current
   * buffer. A buffer above the limit is the call's own, and no view of it is kept.
   */
  #viewOf(buffer: Uint8Array, length: number): Uint8Array {
    if (buffer !== this.#buffer) return buffer.subarray(0, length);
    const last = this.#view;
    if (last !== undefined && last.length === length) return last;
    return (this.#view = buffer.subarray(0, length));
  }

  /** The whole buffer, at least `length` bytes; above SCRATCH_LIMIT, memory of the call's own. */
  #room(length: number): Uint8Array {
    if (length > SCRATCH_LIMIT) return new Uint8Array(length);
    if (this.#buffer === undefined || this.#buffer.length < length) {
      const grown = this.#buffer === undefined ? 4096 : Math.min(SCRATCH_LIMIT, this.#buffer.length * 2);
      this.#buffer = new Uint8Array(Math.max(length, grown));
    }
    return this.#buffer;
  }
}

/**
 * A view of part of an array, made again only when the array or the part changes: for the fields of a buffer that
 * comes back from call to call (a Scratch's view is the same object while its length does not change), so that a
 * record sealed into the same scratch as the one before makes no view of its own. Keeps the last array it was
 * given: use one only for a scratch's views.
 */
export class PartView {
  #of: Uint8Array | undefined;
  #start = 0;
  #end = 0;
  #view: Uint8Array | undefined;

  of(bytes: Uint8Array, start: number, end: number): Uint8Array {
    if (bytes === this.#of && start === this.#start && end === this.#end) return this.#view!;
    this.#of = bytes;
    this.#start = start;
    this.#end = end;
    return (this.#view = bytes.subarray(start, end));
  }
}
