/**
 * The page's RSA public key, read as strict DER before any crypto library sees it: one reader, and one policy
 * (size and exponent), for both of the server's backends (Web Crypto in shared/handshake.ts, node:crypto in
 * server/node-handshake.ts), so that they accept exactly the same keys.
 *
 *   SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey BIT STRING }  (RFC 5280)
 *   RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }                               (RFC 8017 A.1.1)
 *
 * DER (X.690 §10) gives every value one encoding; anything else is refused: long-form lengths a short form could
 * say, INTEGERs with a redundant leading byte, a negative or even modulus, an exponent other than 65537, and any
 * byte after the end of any of the four layers. A library reading BER leniently would accept some of these as the
 * same key and others as a different one; here the question never reaches it.
 */
import { WirechatError } from './errors.ts';

export const RSA_MIN_BITS = 2048;
export const RSA_MAX_BITS = 4096;

/** AlgorithmIdentifier { rsaEncryption (1.2.840.113549.1.1.1), NULL }: the only one protocol.md 6.2 allows. */
const RSA_ENCRYPTION = [0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00];
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

/** One tag-length header at `at`: where its contents start and end. Definite, minimal lengths, inside `end`. */
function header(der: Uint8Array, at: number, end: number, tag: number): { start: number; end: number } {
  if (at + 2 > end || der[at] !== tag) throw badKey(NOT_DER);
  const first = der[at + 1]!;
  let length = first;
  let start = at + 2;
  if (first >= 0x80) {
    const count = first & 0x7f;
    // A key of at most 4096 bits needs no more than two length bytes; 0x80 (indefinite) is not DER.
    if (count < 1 || count > 2 || start + count > end) throw badKey(NOT_DER);
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + der[start + i]!;
    // Minimal: a long form that a shorter one could have said is not DER.
    if (length < 0x80 || (count === 2 && length < 0x100)) throw badKey(NOT_DER);
    start += count;
  }
  if (start + length > end) throw badKey(NOT_DER);
  return { start, end: start + length };
}

function bytesAt(der: Uint8Array, at: number, expected: readonly number[]): boolean {
  return at + expected.length <= der.length && expected.every((byte, i) => der[at + i] === byte);
}

/**
 * Reads the page's SPKI and applies the policy: an RSA key, modulus a positive odd INTEGER of 2048 to 4096 bits,
 * exponent exactly 65537. Throws HANDSHAKE_BAD_KEY otherwise, with fixed wording.
 */
export function readRsaSpki(spki: Uint8Array): RsaPublicKey {
  const outer = header(spki, 0, spki.length, SEQUENCE);
  if (outer.end !== spki.length) throw badKey(NOT_DER);
  if (!bytesAt(spki, outer.start, RSA_ENCRYPTION)) throw badKey('the public key is not an RSA (rsaEncryption) key');
  const bits = header(spki, outer.start + RSA_ENCRYPTION.length, outer.end, BIT_STRING);
  // No unused bits: the key is whole bytes.
  if (bits.end !== outer.end || bits.end - bits.start < 2 || spki[bits.start] !== 0) throw badKey(NOT_DER);
  const key = header(spki, bits.start + 1, bits.end, SEQUENCE);
  if (key.end !== bits.end) throw badKey(NOT_DER);
  const modulus = header(spki, key.start, key.end, INTEGER);
  const n = spki.subarray(modulus.start, modulus.end);
  if (n.length === 0 || (n.length > 1 && n[0] === 0 && n[1]! < 0x80) || (n.length > 1 && n[0] === 0xff && n[1]! >= 0x80)) {
    throw badKey(NOT_DER);
  }
  if (n[0]! >= 0x80) throw badKey('the RSA modulus is negative');
  if ((n[n.length - 1]! & 1) === 0) throw badKey('the RSA modulus is even');
  const magnitude = n[0] === 0 ? n.subarray(1) : n;
  const modulusBits = magnitude.length === 0 ? 0 : (magnitude.length - 1) * 8 + (32 - Math.clz32(magnitude[0]!));
  if (modulusBits < RSA_MIN_BITS || modulusBits > RSA_MAX_BITS) {
    throw badKey(`an RSA key of ${modulusBits} bits is refused (${RSA_MIN_BITS} to ${RSA_MAX_BITS})`);
  }
  if (!bytesAt(spki, modulus.end, EXPONENT_65537)) {
    // Anything else that is a well-formed INTEGER is a wrong exponent; the rest is not DER.
    const exponent = header(spki, modulus.end, key.end, INTEGER);
    if (exponent.end !== key.end) throw badKey(NOT_DER);
    throw badKey('the RSA public exponent is refused (65537 only, in DER)');
  }
  if (modulus.end + EXPONENT_65537.length !== key.end) throw badKey(NOT_DER);
  return { pkcs1: spki.subarray(bits.start + 1, bits.end), modulusBits };
}
