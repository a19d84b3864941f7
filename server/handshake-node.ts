/**
 * The server's half of the handshake (import the page's key, wrap the session secret, sign the transcript), behind
 * one small interface with two implementations: Web Crypto (shared/handshake.ts, what the page's side also uses)
 * and node:crypto, which the server runs. The bytes on the wire are the same: RSAES-OAEP with SHA-256, MGF1-SHA-256
 * and the label `wirechat-session-keys-v1`; ECDSA P-256 with SHA-256 in IEEE P1363 form (r || s). The node:crypto
 * one is cross-tested against the Web Crypto one (test/server/handshake-node.test.ts).
 *
 * Why: on the server a handshake was mostly waiting. Web Crypto in Node imports an SPKI through OpenSSL 3's
 * generic decoder (about 0.3 ms of the main thread for a 3072-bit key) and sends every encrypt and sign to the
 * thread pool and back. Here the SPKI's fixed outer layer is checked byte for byte and only the RSAPublicKey inside
 * goes to OpenSSL (as PKCS #1, about 20 times cheaper to decode); the wrap runs in the caller's thread and the
 * signature on the thread pool, one round trip instead of three.
 */
import { constants, createHash, createPublicKey, KeyObject, publicEncrypt, sign } from 'node:crypto';
import { WirechatError } from '../shared/errors.ts';
import {
  importClientPublicKey,
  RSA_MAX_BITS,
  RSA_MIN_BITS,
  sessionCode,
  signTranscript,
  wrapSessionSecret,
} from '../shared/handshake.ts';

/** What the server does with keys during a handshake. `K` is the implementation's imported page key. */
export interface ServerHandshake<K = unknown> {
  /** Imports the page's SPKI and refuses what shared/handshake.ts's importClientPublicKey refuses (HANDSHAKE_BAD_KEY). */
  importClientKey(spki: Uint8Array): Promise<K>;
  /** RSA-OAEP (SHA-256, label wirechat-session-keys-v1) of the 64-byte session secret. */
  wrap(key: K, secret: Uint8Array): Promise<Uint8Array>;
  /** ECDSA P-256 / SHA-256 over the transcript, r || s (64 bytes), with the identity's signing key. */
  sign(signingKey: CryptoKey, data: Uint8Array): Promise<Uint8Array>;
  /** shared/handshake.ts's sessionCode: the same code from the same transcript. */
  sessionCode(transcript: Uint8Array): Promise<string>;
}

export const webCryptoServerHandshake: ServerHandshake<CryptoKey> = {
  importClientKey: importClientPublicKey,
  wrap: wrapSessionSecret,
  sign: signTranscript,
  sessionCode,
};

const OAEP_LABEL = Buffer.from('wirechat-session-keys-v1');

/**
 * AlgorithmIdentifier { rsaEncryption (1.2.840.113549.1.1.1), NULL }, as DER: the only algorithm docs/protocol.md
 * section 6.2 allows for the page's key, and what Web Crypto exports.
 */
const RSA_ENCRYPTION = Buffer.from('300d06092a864886f70d0101010500', 'hex');

function badKey(message: string): WirechatError {
  return new WirechatError('HANDSHAKE_BAD_KEY', message);
}

/**
 * Reads one DER tag-length header at `offset` and returns where its contents start and end. DER only: definite,
 * minimal lengths, and the contents must fit in `end`.
 */
function derHeader(der: Uint8Array, offset: number, end: number, tag: number): { start: number; end: number } {
  if (offset + 2 > end || der[offset] !== tag) throw badKey('the public key is not an RSA SPKI');
  const first = der[offset + 1]!;
  let length: number;
  let start: number;
  if (first < 0x80) {
    length = first;
    start = offset + 2;
  } else {
    const count = first & 0x7f;
    // Public keys of at most 4096 bits need no more than two length bytes; 0x80 (indefinite) is not DER.
    if (count < 1 || count > 2 || offset + 2 + count > end) throw badKey('the public key is not an RSA SPKI');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + der[offset + 2 + i]!;
    // Minimal: a long form that a shorter one could have said is not DER.
    if (length < 0x80 || (count === 2 && length < 0x100)) throw badKey('the public key is not an RSA SPKI');
    start = offset + 2 + count;
  }
  if (start + length > end) throw badKey('the public key is not an RSA SPKI');
  return { start, end: start + length };
}

/**
 * SubjectPublicKeyInfo ::= SEQUENCE { AlgorithmIdentifier, BIT STRING }: checks the outer layer exactly (the
 * rsaEncryption identifier with NULL parameters, no unused bits, nothing after the end) and returns the
 * RSAPublicKey DER inside, for OpenSSL to decode and check as PKCS #1.
 */
export function rsaPublicKeyFromSpki(spki: Uint8Array): Uint8Array {
  const outer = derHeader(spki, 0, spki.length, 0x30);
  if (outer.end !== spki.length) throw badKey('the public key is not an RSA SPKI');
  const algorithm = spki.subarray(outer.start, outer.start + RSA_ENCRYPTION.length);
  if (!RSA_ENCRYPTION.equals(algorithm)) throw badKey('the public key is not an RSA (rsaEncryption) SPKI');
  const bits = derHeader(spki, outer.start + RSA_ENCRYPTION.length, outer.end, 0x03);
  if (bits.end !== outer.end || bits.end - bits.start < 2 || spki[bits.start] !== 0) {
    throw badKey('the public key is not an RSA SPKI');
  }
  return spki.subarray(bits.start + 1, bits.end);
}

const CODE_LABEL = Buffer.from('wirechat-session-code');
/** shared/handshake.ts's alphabet; the cross-test holds the two implementations to the same codes. */
const CODE_ALPHABET = '23456789ABCDEFGHJKMNPQRSTUVWXYZ';

/** node:crypto's ECDSA key for a Web Crypto one; made once per identity. */
const signingKeys = new WeakMap<CryptoKey, KeyObject>();

function nodeSigningKey(key: CryptoKey): KeyObject {
  let found = signingKeys.get(key);
  if (found === undefined) {
    found = KeyObject.from(key);
    if (found.asymmetricKeyType !== 'ec' || found.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new RangeError('the identity key is not an ECDSA P-256 private key');
    }
    signingKeys.set(key, found);
  }
  return found;
}

export const nodeServerHandshake: ServerHandshake<KeyObject> = {
  async importClientKey(spki) {
    const pkcs1 = rsaPublicKeyFromSpki(spki);
    let key: KeyObject;
    try {
      key = createPublicKey({ key: Buffer.from(pkcs1.buffer, pkcs1.byteOffset, pkcs1.byteLength), format: 'der', type: 'pkcs1' });
    } catch (cause) {
      throw new WirechatError('HANDSHAKE_BAD_KEY', 'the public key is not an RSA SPKI', { cause });
    }
    const details = key.asymmetricKeyDetails;
    const bits = details?.modulusLength ?? 0;
    if (key.asymmetricKeyType !== 'rsa' || bits < RSA_MIN_BITS || bits > RSA_MAX_BITS) {
      throw badKey(`an RSA key of ${bits} bits is refused (${RSA_MIN_BITS} to ${RSA_MAX_BITS})`);
    }
    const e = details?.publicExponent ?? 0n;
    if (e !== 65537n) throw badKey(`the RSA public exponent 0x${e.toString(16)} is refused (65537 only)`);
    return key;
  },

  async wrap(key, secret) {
    const wrapped = publicEncrypt(
      { key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: OAEP_LABEL },
      secret,
    );
    return new Uint8Array(wrapped.buffer, wrapped.byteOffset, wrapped.byteLength);
  },

  sign(signingKey, data) {
    // On libuv's thread pool (node:crypto's callback form), like Web Crypto's: the other core signs while this
    // thread serves sockets, and a peer that hung up after its hello is seen to be gone before the welcome, so it
    // never joins (test/server/adversarial-resources.test.ts).
    const key = nodeSigningKey(signingKey);
    return new Promise((resolve, reject) => {
      sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, (error, signature) => {
        if (error) reject(error);
        else resolve(new Uint8Array(signature.buffer, signature.byteOffset, signature.byteLength));
      });
    });
  },

  async sessionCode(transcript) {
    // A Web Crypto digest cost the server more than the wrap and the signature together (its argument checks and
    // the thread-pool round trip, for 1 KiB of hashing).
    const digest = createHash('sha256').update(CODE_LABEL).update(transcript).digest();
    let out = '';
    for (let i = 0; i < 8; i++) out += CODE_ALPHABET[digest[i]! % CODE_ALPHABET.length];
    return `${out.slice(0, 4)}-${out.slice(4)}`;
  },
};
