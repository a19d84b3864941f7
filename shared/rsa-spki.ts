/**
 * The page's RSA public key, read as DER before any crypto library sees it: one reader, and one policy (size and
 * exponent), for both of the server's backends (Web Crypto in shared/handshake.ts, node:crypto in
 * server/node-handshake.ts), so that they accept exactly the same keys; and the same reader, lenient, for the
 * inspector, which names the key a page sent even when the server would refuse it.
 *
 *   SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey BIT STRING }  (RFC 5280)
 *   RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }                               (RFC 8017 A.1.1)
 *
 * Strict, DER (X.690 §10) gives every value one encoding and anything else is refused: long-form lengths a short
 * form could say, INTEGERs with a redundant leading byte, a negative or even modulus, an exponent other than
 * 65537, and any byte after the end of any of the four layers. A library reading BER leniently would accept some
 * of these as the same key and others as a different one; here the question never reaches it. Lenient, the same
 * layers are walked without those checks, and whatever does not fit is simply not read.
 */
import { WirechatError } from './errors.ts';

export const RSA_MIN_BITS = 2048;
export const RSA_MAX_BITS = 4096;

/** AlgorithmIdentifier { rsaEncryption (1.2.840.113549.1.1.1), NULL }: the only one protocol.md 6.2 allows. */
const RSA_ENCRYPTION = [0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00];
/** Its OBJECT IDENTIFIER alone: what the lenient reader looks for. */
const RSA_OID = RSA_ENCRYPTION.slice(2, 13);
/** INTEGER 65537, the one exponent allowed, in its only DER encoding. */
const EXPONENT_65537 = [0x02, 0x03, 0x01, 0x00, 0x01];

const SEQUENCE = 0x30;
const BIT_STRING = 0x03;
const INTEGER = 0x02;

export interface RsaPublicKey {
  /** The RSAPublicKey DER inside the SPKI (PKCS #1), for a library that imports that form. */
  pkcs1: Uint8Array;
  /** The modulus's size in bits, counted from its highest set bit. */
  modulusBits: number;
}

// Fixed words, never a library's: they reach the peer in a close reason.
const NOT_DER = 'the public key is not an RSA SubjectPublicKeyInfo in DER';

function badKey(message: string): WirechatError {
  return new WirechatError('HANDSHAKE_BAD_KEY', message);
}

/** Where one element's contents are, and what its tag was. */
interface DerElement {
  tag: number;
  start: number;
  end: number;
}

/**
 * The tag-length header at `at` (X.690 §8.1: tag, definite length), its contents inside `end`; undefined when it
 * does not fit. `strict` also refuses what DER forbids: a long form that a short one could say, and (for keys of
 * at most 4096 bits) more than two length bytes. Indefinite lengths (0x80) are never read.
 */
function derElement(der: Uint8Array, at: number, end: number, strict: boolean): DerElement | undefined {
  const tag = der[at];
  const first = der[at + 1];
  if (tag === undefined || first === undefined || at + 2 > end) return undefined;
  let length = first;
  let start = at + 2;
  if (first >= 0x80) {
    const count = first & 0x7f;
    if (count < 1 || count > (strict ? 2 : 3) || start + count > end) return undefined;
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + der[start + i]!;
    if (strict && (length < 0x80 || (count === 2 && length < 0x100))) return undefined;
    start += count;
  }
  return start + length <= end ? { tag, start, end: start + length } : undefined;
}

/** Strict: throws HANDSHAKE_BAD_KEY with `message`. Lenient: undefined. */
function failed(strict: boolean, message = NOT_DER): undefined {
  if (strict) throw badKey(message);
  return undefined;
}

/** The element at `at` (see derElement), when its tag is `tag`. */
function tagged(der: Uint8Array, at: number, end: number, tag: number, strict: boolean): DerElement | undefined {
  const found = derElement(der, at, end, strict);
  return found?.tag === tag ? found : undefined;
}

/** The key's two INTEGERs (their content bytes, as encoded) and the RSAPublicKey DER around them. */
interface RsaLayers {
  pkcs1: Uint8Array;
  modulus: Uint8Array;
  exponent: Uint8Array;
}

/**
 * Walks SPKI -> AlgorithmIdentifier -> BIT STRING -> RSAPublicKey -> modulus, exponent. Strict: each layer fills
 * its parent exactly, the algorithm is exactly rsaEncryption with NULL, and the first problem throws with fixed
 * words. Lenient: the algorithm's OID is enough, trailing bytes are ignored, and any problem gives undefined.
 */
function walk(spki: Uint8Array, strict: boolean): RsaLayers | undefined {
  const outer = tagged(spki, 0, spki.length, SEQUENCE, strict);
  if (outer === undefined || (strict && outer.end !== spki.length)) return failed(strict);
  // Strict: exactly { rsaEncryption, NULL }, in its one encoding. Lenient: an AlgorithmIdentifier naming rsaEncryption.
  const algorithm = tagged(spki, outer.start, outer.end, SEQUENCE, strict);
  if (
    algorithm === undefined ||
    !(strict ? bytesAt(spki, outer.start, RSA_ENCRYPTION) : bytesAt(spki, algorithm.start, RSA_OID))
  ) {
    return failed(strict, 'the public key is not an RSA (rsaEncryption) key');
  }
  const bits = tagged(spki, algorithm.end, outer.end, BIT_STRING, strict);
  // No unused bits: the key is whole bytes.
  if (bits === undefined || bits.end - bits.start < 2 || spki[bits.start] !== 0 || (strict && bits.end !== outer.end))
    return failed(strict);
  const key = tagged(spki, bits.start + 1, bits.end, SEQUENCE, strict);
  if (key === undefined || (strict && key.end !== bits.end)) return failed(strict);
  const modulus = tagged(spki, key.start, key.end, INTEGER, strict);
  if (modulus === undefined) return failed(strict);
  const n = spki.subarray(modulus.start, modulus.end);
  // Strict: a minimal INTEGER, no redundant 0x00 or 0xff in front.
  if (n.length === 0 || (strict && n.length > 1 && ((n[0] === 0 && n[1]! < 0x80) || (n[0] === 0xff && n[1]! >= 0x80))))
    return failed(strict);
  const exponent = tagged(spki, modulus.end, key.end, INTEGER, strict);
  if (exponent === undefined || (strict && exponent.end !== key.end)) return failed(strict);
  return {
    pkcs1: spki.subarray(bits.start + 1, bits.end),
    modulus: n,
    exponent: spki.subarray(exponent.start, exponent.end),
  };
}

function bytesAt(der: Uint8Array, at: number, expected: readonly number[]): boolean {
  if (at + expected.length > der.length) return false;
  for (let i = 0; i < expected.length; i++) if (der[at + i] !== expected[i]) return false;
  return true;
}

/** The size of a positive INTEGER's value in bits, counted from its highest set bit (leading zero bytes skipped). */
function bitLength(integer: Uint8Array): number {
  let first = 0;
  while (first < integer.length && integer[first] === 0) first++;
  return first === integer.length ? 0 : (integer.length - first - 1) * 8 + (32 - Math.clz32(integer[first]!));
}

/**
 * Reads the page's SPKI and applies the policy: an RSA key, modulus a positive odd INTEGER of 2048 to 4096 bits,
 * exponent exactly 65537. Throws HANDSHAKE_BAD_KEY otherwise, with fixed wording.
 */
export function readRsaSpki(spki: Uint8Array): RsaPublicKey {
  const { pkcs1, modulus: n, exponent } = walk(spki, true)!;
  if (n[0]! >= 0x80) throw badKey('the RSA modulus is negative');
  if ((n[n.length - 1]! & 1) === 0) throw badKey('the RSA modulus is even');
  const modulusBits = bitLength(n);
  if (modulusBits < RSA_MIN_BITS || modulusBits > RSA_MAX_BITS) {
    throw badKey(`an RSA key of ${modulusBits} bits is refused (${RSA_MIN_BITS} to ${RSA_MAX_BITS})`);
  }
  // Any well-formed INTEGER other than 65537 in its one DER encoding is a wrong exponent.
  if (exponent.length !== EXPONENT_65537.length - 2 || !bytesAt(exponent, 0, EXPONENT_65537.slice(2))) {
    throw badKey('the RSA public exponent is refused (65537 only, in DER)');
  }
  return { pkcs1, modulusBits };
}

/**
 * The modulus size and public exponent of an RSA SPKI, read leniently for display (the inspector names the key a
 * page sent, even one the server refuses); undefined when it is not one, never a throw.
 */
export function rsaKeyInfo(spki: Uint8Array): { bits: number; exponent: number } | undefined {
  const layers = walk(spki, false);
  if (layers === undefined || layers.exponent.length > 6) return undefined;
  let exponent = 0;
  for (const byte of layers.exponent) exponent = exponent * 256 + byte;
  return { bits: bitLength(layers.modulus), exponent };
}
