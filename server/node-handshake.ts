/**
 * The server's half of the handshake (import the page's key, wrap the session secret, sign the transcript), behind
 * one small interface with two implementations: Web Crypto (shared/handshake.ts, what the page's side also uses)
 * and node:crypto, which the server runs. The bytes on the wire are the same: RSAES-OAEP with SHA-256, MGF1-SHA-256
 * and the label `wirechat-session-keys-v1`; ECDSA P-256 with SHA-256 in IEEE P1363 form (r || s). The node:crypto
 * one is cross-tested against the Web Crypto one (test/server/node-handshake.test.ts).
 *
 * Why: on the server a handshake was mostly waiting. Web Crypto in Node imports an SPKI through OpenSSL 3's
 * generic decoder (about 0.3 ms of the main thread for a 3072-bit key) and sends every encrypt and sign to the
 * thread pool and back. Here the SPKI is read as strict DER by shared/rsa-spki.ts (the same reader the Web Crypto
 * import uses, so both accept exactly the same keys) and only the RSAPublicKey inside goes to OpenSSL (as PKCS #1,
 * about 20 times cheaper to decode); the wrap runs in the caller's thread and the signature on the thread pool, one
 * round trip instead of three.
 */
import { constants, createHash, createPublicKey, KeyObject, publicEncrypt, sign } from 'node:crypto';
import { WirechatError } from '../shared/errors.ts';
import { importClientPublicKey, sessionCode, signTranscript, wrapSessionSecret } from '../shared/handshake.ts';
import { readRsaSpki } from '../shared/rsa-spki.ts';

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
    // The DER and the policy are checked by the same reader as the Web Crypto import's; OpenSSL gets only the
    // RSAPublicKey inside, as PKCS #1.
    const { pkcs1 } = readRsaSpki(spki);
    try {
      return createPublicKey({ key: Buffer.from(pkcs1.buffer, pkcs1.byteOffset, pkcs1.byteLength), format: 'der', type: 'pkcs1' });
    } catch (cause) {
      // Fixed words: OpenSSL's message stays in `cause`, never reaches the peer.
      throw new WirechatError('HANDSHAKE_BAD_KEY', 'the public key is not an RSA SubjectPublicKeyInfo in DER', { cause });
    }
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
