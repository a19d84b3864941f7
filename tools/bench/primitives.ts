/**
 * The cryptography of one record and nothing else, for the benchmark's floors: the server's `floor` mode
 * (tools/bench/server.ts) and the floor tabs of the round trip (tools/bench/net.ts rawTab). node:crypto, KeyObjects
 * made once, as the backend does.
 */
import { createCipheriv, createDecipheriv, createHmac, createSecretKey, randomBytes } from 'node:crypto';

const floorKeys = {
  signing: createSecretKey(randomBytes(16)),
  encryption: createSecretKey(randomBytes(16)),
  record: createSecretKey(randomBytes(32)),
  iv: randomBytes(16),
};
const primitivesBySize = new Map<number, { seal(): void; open(): void }>();
/** Read by nobody; summed into so that no call is optimized away. */
export let primitivesSink = 0;

/**
 * The primitives of one record whose frame is `frameBytes` long: {"type":"record","seq":N,"token":"…","mac":"…"}
 * carries a padded base64url token of 25 header bytes, the ciphertext and a 32-byte HMAC, and a 44-character MAC;
 * the record MAC covers 35 bytes of label, direction, seq and session id, then the token's text. Sizes to within a
 * block of the real record (the seq's digits vary); the plaintext is the ciphertext less its average padding.
 */
export function recordPrimitives(frameBytes: number): { seal(): void; open(): void } {
  let primitives = primitivesBySize.get(frameBytes);
  if (primitives) return primitives;
  const tokenText = Math.max(100, frameBytes - '{"type":"record","seq":1,"token":"","mac":""}'.length - 44);
  const ciphertextBytes = Math.max(16, Math.floor(((tokenText / 4) * 3 - 57) / 16) * 16);
  const plaintext = new Uint8Array(ciphertextBytes - 8);
  const signed = new Uint8Array(25 + ciphertextBytes);
  const macInput = new Uint8Array(35 + tokenText);
  const ciphertext = new Uint8Array(ciphertextBytes);
  const { signing, encryption, record, iv } = floorKeys;
  primitives = {
    seal() {
      const cipher = createCipheriv('aes-128-cbc', encryption, iv);
      primitivesSink += cipher.update(plaintext).length + cipher.final().length;
      primitivesSink += createHmac('sha256', signing).update(signed).digest()[0]!;
      primitivesSink += createHmac('sha256', record).update(macInput).digest()[0]!;
    },
    open() {
      primitivesSink += createHmac('sha256', record).update(macInput).digest()[0]!;
      primitivesSink += createHmac('sha256', signing).update(signed).digest()[0]!;
      const decipher = createDecipheriv('aes-128-cbc', encryption, iv).setAutoPadding(false);
      primitivesSink += decipher.update(ciphertext).length + decipher.final().length;
    },
  };
  primitivesBySize.set(frameBytes, primitives);
  return primitives;
}
