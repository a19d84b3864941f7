/**
 * The server's node:crypto handshake against the Web Crypto one (shared/handshake.ts) that the page runs: what the
 * node one wraps, the page unwraps; what it signs, the page verifies; its session codes are the page's; and it
 * refuses every key the Web Crypto import refuses (it is allowed to be stricter, never laxer).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { WirechatError } from '../../shared/errors.ts';
import {
  generateClientKeyPair,
  importClientPublicKey,
  sessionCode,
  unwrapSessionSecret,
  verifyTranscript,
} from '../../shared/handshake.ts';
import { nodeServerHandshake, rsaPublicKeyFromSpki, webCryptoServerHandshake } from '../../server/handshake-node.ts';
import { rejectsWith, throwsWith } from '../helpers/expect-error.ts';

const subtle = globalThis.crypto.subtle;

async function spkiOf(pair: CryptoKeyPair): Promise<Uint8Array> {
  return new Uint8Array(await subtle.exportKey('spki', pair.publicKey));
}

/** SPKI DER of an RSA key with a random odd modulus of `bits` bits (no key generation). */
function rsaSpki(bits: number, e = 'AQAB'): Uint8Array {
  const n = randomBytes(bits / 8);
  n[0]! |= 0x80;
  n[n.length - 1]! |= 1;
  return createPublicKey({ key: { kty: 'RSA', n: n.toString('base64url'), e }, format: 'jwk' }).export({ type: 'spki', format: 'der' });
}

/** What an import came to, for comparing the two: the key's n and e, or the error code. */
async function outcome(importer: (spki: Uint8Array) => Promise<unknown>, spki: Uint8Array): Promise<string> {
  try {
    await importer(spki);
  } catch (error) {
    if (error instanceof WirechatError) return error.code;
    throw error;
  }
  // Both accepted: which key it was, read the same way for both.
  const jwk = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }).export({ format: 'jwk' });
  return `key ${jwk.n} ${jwk.e}`;
}

describe('node:crypto server handshake', () => {
  const pages = Promise.all([generateClientKeyPair(2048), generateClientKeyPair(3072)]);
  const identity = subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);

  test('wraps session secrets that the page unwraps, for 2048- and 3072-bit page keys', async () => {
    for (const page of await pages) {
      const key = await nodeServerHandshake.importClientKey(await spkiOf(page));
      const secret = randomBytes(64);
      const wrapped = await nodeServerHandshake.wrap(key, new Uint8Array(secret));
      assert.equal(wrapped.length, (page.publicKey.algorithm as RsaHashedKeyAlgorithm).modulusLength / 8);
      const { fernetKey, macKey } = await unwrapSessionSecret(page.privateKey, wrapped);
      assert.deepEqual(Buffer.concat([fernetKey, macKey]), secret);
      // Randomized padding: the same secret never wraps the same way twice.
      assert.notDeepEqual(await nodeServerHandshake.wrap(key, new Uint8Array(secret)), wrapped);
    }
  });

  test('a page key that the Web Crypto import refuses is refused too (HANDSHAKE_BAD_KEY)', async () => {
    const keys: Array<[string, Uint8Array]> = [
      ['random bytes', randomBytes(294)],
      ['an EC P-256 key', generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' })],
      ['a 1024-bit RSA key', generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'der' })],
      ['a 16384-bit RSA key', rsaSpki(16384)],
      ['exponent 1', rsaSpki(2048, 'AQ')],
      ['exponent 3', rsaSpki(2048, 'Aw')],
      ['an RSA-PSS key', generateKeyPairSync('rsa-pss', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'der' })],
      ['an empty key', new Uint8Array(0)],
    ];
    for (const [what, spki] of keys) {
      await rejectsWith(webCryptoServerHandshake.importClientKey(spki), 'HANDSHAKE_BAD_KEY').catch((e: unknown) => {
        throw new Error(`Web Crypto: ${what}`, { cause: e });
      });
      await rejectsWith(nodeServerHandshake.importClientKey(spki), 'HANDSHAKE_BAD_KEY').catch((e: unknown) => {
        throw new Error(`node: ${what}`, { cause: e });
      });
    }
  });

  test('the SPKI wrapper is read as DER, exactly: no trailing bytes, minimal lengths, NULL parameters', async () => {
    const good = await spkiOf((await pages)[0]);
    assert.ok(rsaPublicKeyFromSpki(good).length > 256);
    throwsWith(() => rsaPublicKeyFromSpki(Uint8Array.of(...good, 0)), 'HANDSHAKE_BAD_KEY', 'a byte after the end');
    throwsWith(() => rsaPublicKeyFromSpki(good.subarray(0, good.length - 1)), 'HANDSHAKE_BAD_KEY', 'one byte short');
    // The outer length in a longer form than it needs (0x83 00 01 22 for 0x82 01 22).
    const long = Uint8Array.of(0x30, 0x83, 0x00, ...good.subarray(2));
    throwsWith(() => rsaPublicKeyFromSpki(long), 'HANDSHAKE_BAD_KEY', 'a non-minimal length');
    // rsaEncryption without its NULL parameters.
    const inner = good.subarray(4 + 15);
    const body = Uint8Array.of(0x30, 0x0b, ...good.subarray(4 + 2, 4 + 13), ...inner);
    const noNull = Uint8Array.of(0x30, 0x82, body.length >> 8, body.length & 0xff, ...body);
    throwsWith(() => rsaPublicKeyFromSpki(noNull), 'HANDSHAKE_BAD_KEY', 'no NULL parameters');
    // Unused bits in the BIT STRING.
    const unused = Uint8Array.from(good);
    unused[4 + 15 + 4] = 1;
    throwsWith(() => rsaPublicKeyFromSpki(unused), 'HANDSHAKE_BAD_KEY', 'unused bits');
  });

  test('damaged page keys: the node import accepts only what the Web Crypto import accepts, as the same key', async () => {
    const good = await spkiOf((await pages)[0]);
    const damage = fc.oneof(
      fc.record({ at: fc.nat({ max: good.length - 1 }), value: fc.integer({ min: 0, max: 255 }) }).map(({ at, value }) => {
        const out = Uint8Array.from(good);
        out[at] = value;
        return out;
      }),
      fc.nat({ max: good.length }).map((cut) => good.subarray(0, cut)),
      fc.uint8Array({ minLength: 1, maxLength: 4 }).map((tail) => Uint8Array.of(...good, ...tail)),
    );
    await fc.assert(
      fc.asyncProperty(damage, async (spki) => {
        const node = await outcome((s) => nodeServerHandshake.importClientKey(s), spki);
        const web = await outcome((s) => importClientPublicKey(s), spki);
        if (node !== 'HANDSHAKE_BAD_KEY') assert.equal(node, web);
      }),
      { numRuns: 300 },
    );
  });

  test('signs transcripts that the page verifies, in the same 64-byte form', async () => {
    const { privateKey, publicKey } = await identity;
    const serverKey = new Uint8Array(await subtle.exportKey('spki', publicKey));
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 0, maxLength: 2000 }), async (data) => {
        const signature = await nodeServerHandshake.sign(privateKey, data);
        assert.equal(signature.length, 64);
        await verifyTranscript(serverKey, data, signature);
        const flipped = Uint8Array.from(data.length > 0 ? data : [0]);
        flipped[0]! ^= 1;
        await rejectsWith(verifyTranscript(serverKey, flipped, signature), 'HANDSHAKE_BAD_SIGNATURE');
      }),
      { numRuns: 50 },
    );
  });

  test('gives the session code the page computes from the same transcript', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 1200 }), async (data) => {
        assert.equal(await nodeServerHandshake.sessionCode(data), await sessionCode(data));
      }),
      { numRuns: 300 },
    );
  });
});
