/**
 * The server's node:crypto handshake against the Web Crypto one (shared/handshake.ts) that the page runs: what the
 * node one wraps, the page unwraps; what it signs, the page verifies; its session codes are the page's; and it
 * accepts exactly the keys the Web Crypto import accepts (both read them through shared/rsa-spki.ts first).
 */
import { describe, test } from 'node:test';
import { rsaSpki } from '../helpers/raw-client.ts';
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { WirechatError } from '../../shared/errors.ts';
import {
  buildHello,
  generateClientKeyPair,
  importClientPublicKey,
  prepareWelcome,
  sessionCode,
  signWelcome,
  unwrapSessionSecret,
  unwrapWelcome,
  verifyTranscript,
  verifyWelcome,
} from '../../shared/handshake.ts';
import { nodeServerHandshake, webCryptoServerHandshake } from '../../server/node-handshake.ts';
import { readRsaSpki } from '../../shared/rsa-spki.ts';
import { rejectsWith, throwsWith } from '../helpers/expect-error.ts';

const subtle = globalThis.crypto.subtle;

async function spkiOf(pair: CryptoKeyPair): Promise<Uint8Array> {
  return new Uint8Array(await subtle.exportKey('spki', pair.publicKey));
}

/** A DER tag-length-value, with the shortest length (as DER asks). */
function tlv(tag: number, content: ArrayLike<number>): Uint8Array {
  const n = content.length;
  const length = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  return Uint8Array.of(tag, ...length, ...Array.from(content));
}

/** RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }, from the INTEGERs' content bytes as given. */
function rsaKey(n: number[], e: number[], after: number[] = []): Uint8Array {
  return tlv(0x30, [...tlv(0x02, n), ...tlv(0x02, e), ...after]);
}

/** An SPKI around `rsaPublicKey`: rsaEncryption with NULL parameters, a BIT STRING with no unused bits. */
function spkiOf2(rsaPublicKey: Uint8Array, after: number[] = []): Uint8Array {
  const algorithm = [0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00];
  return tlv(0x30, [...algorithm, ...tlv(0x03, [0x00, ...rsaPublicKey, ...after])]);
}

/** The only words a refused page key gets: never a library's (OpenSSL's "error:...:routines::..."). */
const FIXED_WORDS =
  /^(the public key is not an RSA SubjectPublicKeyInfo in DER|the public key is not an RSA \(rsaEncryption\) key|the RSA modulus is (negative|even)|an RSA key of \d+ bits is refused \(2048 to 4096\)|the RSA public exponent is refused \(65537 only, in DER\))$/;

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
      [
        'an EC P-256 key',
        generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' }),
      ],
      [
        'a 1024-bit RSA key',
        generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'der' }),
      ],
      ['a 16384-bit RSA key', rsaSpki(16384)],
      ['exponent 1', rsaSpki(2048, 'AQ')],
      ['exponent 3', rsaSpki(2048, 'Aw')],
      [
        'an RSA-PSS key',
        generateKeyPairSync('rsa-pss', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'der' }),
      ],
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
    assert.ok(readRsaSpki(good).pkcs1.length > 256);
    assert.equal(readRsaSpki(good).modulusBits, 2048);
    throwsWith(() => readRsaSpki(Uint8Array.of(...good, 0)), 'HANDSHAKE_BAD_KEY', 'a byte after the end');
    throwsWith(() => readRsaSpki(good.subarray(0, good.length - 1)), 'HANDSHAKE_BAD_KEY', 'one byte short');
    // The outer length in a longer form than it needs (0x83 00 01 22 for 0x82 01 22).
    const long = Uint8Array.of(0x30, 0x83, 0x00, ...good.subarray(2));
    throwsWith(() => readRsaSpki(long), 'HANDSHAKE_BAD_KEY', 'a non-minimal length');
    // rsaEncryption without its NULL parameters.
    const inner = good.subarray(4 + 15);
    const body = Uint8Array.of(0x30, 0x0b, ...good.subarray(4 + 2, 4 + 13), ...inner);
    const noNull = Uint8Array.of(0x30, 0x82, body.length >> 8, body.length & 0xff, ...body);
    throwsWith(() => readRsaSpki(noNull), 'HANDSHAKE_BAD_KEY', 'no NULL parameters');
    // Unused bits in the BIT STRING.
    const unused = Uint8Array.from(good);
    unused[4 + 15 + 4] = 1;
    throwsWith(() => readRsaSpki(unused), 'HANDSHAKE_BAD_KEY', 'unused bits');
  });

  test('malformed RSAPublicKeys inside a valid SPKI: both backends refuse each, with fixed words', async () => {
    const jwk = createPublicKey({
      key: Buffer.from(await spkiOf((await pages)[0])),
      format: 'der',
      type: 'spki',
    }).export({ format: 'jwk' });
    const m = [...Buffer.from(jwk.n!, 'base64url')]; // 256 bytes, the top bit set: needs a 0x00 to be positive
    const e = [0x01, 0x00, 0x01];
    const odd = (bytes: number[]) => [...bytes.slice(0, -1), bytes.at(-1)! | 1];
    const even = (bytes: number[]) => [...bytes.slice(0, -1), bytes.at(-1)! & 0xfe];
    const table: Array<[string, Uint8Array]> = [
      ['a negative modulus (high bit set, no 0x00)', spkiOf2(rsaKey(m, e))],
      ['a negative modulus (0xff then a high bit)', spkiOf2(rsaKey([0xff, ...m], e))],
      ['an extra leading zero byte in the modulus', spkiOf2(rsaKey([0x00, 0x00, ...m], e))],
      ['an extra leading zero byte in the exponent', spkiOf2(rsaKey([0x00, ...m], [0x00, ...e]))],
      ['an even modulus', spkiOf2(rsaKey([0x00, ...even(m)], e))],
      ['an empty modulus', spkiOf2(rsaKey([], e))],
      ['a modulus of 2047 bits', spkiOf2(rsaKey([m[0]! & 0x7f, ...m.slice(1)], e))],
      ['a modulus of 4104 bits', spkiOf2(rsaKey([0x00, ...odd([...m, ...m, 0xff])], e))],
      ['exponent 3', spkiOf2(rsaKey([0x00, ...m], [0x03]))],
      ['exponent 65537 negative (no room for the sign)', spkiOf2(rsaKey([0x00, ...m], [0x81, 0x00, 0x01]))],
      ['a third INTEGER after the exponent', spkiOf2(Uint8Array.of(...rsaKey([0x00, ...m], e, [0x02, 0x01, 0x00])))],
      ['a byte after the RSAPublicKey, inside the BIT STRING', spkiOf2(rsaKey([0x00, ...m], e), [0x00])],
      ['the exponent missing', spkiOf2(tlv(0x30, tlv(0x02, [0x00, ...m])))],
      ['the modulus tagged as a BIT STRING', spkiOf2(tlv(0x30, [...tlv(0x03, [0x00, ...m]), ...tlv(0x02, e)]))],
      [
        'a non-minimal length for the exponent',
        spkiOf2(tlv(0x30, [...tlv(0x02, [0x00, ...m]), 0x02, 0x81, 0x03, ...e])),
      ],
      ['an indefinite length', Uint8Array.of(0x30, 0x80, ...spkiOf2(rsaKey([0x00, ...m], e)).subarray(4), 0x00, 0x00)],
    ];
    // The honest key built the same way is accepted by both, as the same key: the table changes one thing each.
    const honest = spkiOf2(rsaKey([0x00, ...m], e));
    assert.deepEqual(honest, await spkiOf((await pages)[0]));
    for (const [what, spki] of table) {
      for (const [backend, importer] of [
        ['Web Crypto', webCryptoServerHandshake.importClientKey],
        ['node', nodeServerHandshake.importClientKey],
      ] as const) {
        await assert.rejects(
          importer(spki),
          (error: unknown) => {
            assert.ok(
              error instanceof WirechatError && error.code === 'HANDSHAKE_BAD_KEY',
              `${backend}: ${what}: ${String(error)}`,
            );
            assert.match(error.message, FIXED_WORDS, `${backend}: ${what}: the words a peer reads are ours`);
            return true;
          },
          `${backend}: ${what}`,
        );
      }
    }
  });

  test('keys of 2048 to 4096 bits with exponent 65537 are accepted by both backends', async () => {
    for (const spki of [rsaSpki(2048), rsaSpki(3072), rsaSpki(4096)]) {
      assert.equal(
        await outcome((s) => webCryptoServerHandshake.importClientKey(s), spki),
        await outcome((s) => nodeServerHandshake.importClientKey(s), spki),
      );
      assert.match(await outcome((s) => nodeServerHandshake.importClientKey(s), spki), /^key /);
    }
  });

  test('damaged page keys: the node import and the Web Crypto import come to the same answer, byte for byte', async () => {
    const good = await spkiOf((await pages)[0]);
    const damage = fc.oneof(
      fc
        .record({ at: fc.nat({ max: good.length - 1 }), value: fc.integer({ min: 0, max: 255 }) })
        .map(({ at, value }) => {
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
        assert.equal(node, web);
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

  test("a welcome the node:crypto server drafts and signs is verified and opened by the page's steps", async () => {
    const page = (await pages)[1];
    const { privateKey, publicKey } = await identity;
    const serverKey = new Uint8Array(await subtle.exportKey('spki', publicKey));
    const hello = buildHello({ name: 'alice', publicKey: await spkiOf(page), acceptPlain: false });
    const draft = await prepareWelcome(nodeServerHandshake, hello, 'secure');
    const signed = await signWelcome(nodeServerHandshake, draft, {
      publicKey: serverKey,
      signingKey: privateKey,
      name: 'alice',
      time: Date.now(),
    });
    const verified = await verifyWelcome(hello, signed.frame);
    assert.equal(await sessionCode(verified.transcript), signed.sessionCode);
    assert.deepEqual(await unwrapWelcome(verified, page.privateKey), draft.secret);
  });
});
