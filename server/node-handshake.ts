/**
 * The server's handshake primitives on node:crypto: import the page's RSA key, RSA-OAEP encrypt, ECDSA sign,
 * SHA-256. Only primitives: the label, the key policy, the transcript and the session code are shared/handshake.ts's
 * (serverHandshakeFromPrimitives), the same code the Web Crypto backend runs, so the bytes on the wire are the same:
 * RSAES-OAEP with SHA-256 and MGF1-SHA-256; ECDSA P-256 with SHA-256 in IEEE P1363 form (r || s). Cross-tested
 * against Web Crypto in test/server/node-handshake.test.ts.
 *
 * Why: on the server a handshake was mostly waiting. Web Crypto in Node imports an SPKI through OpenSSL 3's
 * generic decoder (about 0.3 ms of the main thread for a 3072-bit key) and sends every encrypt and sign to the
 * thread pool and back. Here only the RSAPublicKey inside the SPKI goes to OpenSSL (as PKCS #1, about 20 times
 * cheaper to decode; shared/rsa-spki.ts has read the SPKI as strict DER first); the wrap runs in the caller's
 * thread, and so does the signature (the thread pool's hand-over cost more than the signing), none of them a round
 * trip through the thread pool.
 */
import { constants, createHash, createPublicKey, KeyObject, publicEncrypt, sign } from 'node:crypto';
import { serverHandshakeFromPrimitives, type HandshakePrimitives, type ServerHandshake } from '../shared/handshake.ts';

export { webCryptoServerHandshake, type ServerHandshake } from '../shared/handshake.ts';

/** A plain Uint8Array view of a Buffer, so results compare equal to the Web Crypto backend's. */
function plain(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

const asBuffer = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

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

export const nodeHandshakePrimitives: HandshakePrimitives<KeyObject> = {
  async importRsaPublicKey(_spki, pkcs1) {
    return createPublicKey({ key: asBuffer(pkcs1), format: 'der', type: 'pkcs1' });
  },

  async rsaOaepEncrypt(key, label, data) {
    return plain(
      publicEncrypt(
        { key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: asBuffer(label) },
        data,
      ),
    );
  },

  async ecdsaSign(signingKey, data) {
    // In this thread, synchronously. node:crypto's callback form (the thread pool) cost more CPU than the signature
    // itself: issuing the job alone took 25-45 µs of this thread against 30-40 µs for a whole synchronous
    // signature (docs/benchmarks.md, issue 14's third pass). A peer that hung up after its hello is still seen to
    // be gone before the welcome: the session waits for the event loop's next I/O poll before it joins
    // (server/session.ts, afterNextPoll; test/server/adversarial-resources.test.ts).
    return plain(sign('sha256', data, { key: nodeSigningKey(signingKey), dsaEncoding: 'ieee-p1363' }));
  },

  async sha256(data) {
    // A Web Crypto digest cost the server more than the wrap and the signature together (its argument checks and
    // the thread-pool round trip, for 1 KiB of hashing).
    return plain(createHash('sha256').update(data).digest());
  },
};

export const nodeServerHandshake: ServerHandshake<KeyObject> = serverHandshakeFromPrimitives(nodeHandshakePrimitives);
