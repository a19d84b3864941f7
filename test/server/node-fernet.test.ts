/**
 * The node:crypto backend against the Web Crypto one: the same key, IV and time must give the same token, each must
 * read the other's, and both must refuse the same damaged tokens with the same code. (The spec vectors, the fernet
 * package interop and the damage tests run on both backends in test/shared/fernet.test.ts and mac.test.ts.)
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, createHmac } from 'node:crypto';
import fc from 'fast-check';
import { fromBase64Url, fromBase64UrlJs, toBase64Url, toBase64UrlJs } from '../../shared/bytes.ts';
import { WirechatError } from '../../shared/errors.ts';
import { createFernet, generateFernetKey, parseToken, strictBase64Url, type Fernet } from '../../shared/fernet.ts';
import { createNodeFernet, nodeCryptoBackend } from '../../server/node-fernet.ts';

const RUNS = { numRuns: 150 };
const key = fc.uint8Array({ minLength: 32, maxLength: 32 });
const iv = fc.uint8Array({ minLength: 16, maxLength: 16 });
const time = fc.integer({ min: 0, max: 2 ** 40 });
const plaintext = fc.uint8Array({ maxLength: 1100 });

/** Both backends on copies of one key (each zeroes what it is given). */
async function pair(raw: Uint8Array): Promise<{ web: Fernet; node: Fernet }> {
  return { web: await createFernet(raw.slice()), node: await createNodeFernet(raw.slice()) };
}

/** What a decrypt came to, comparable across backends: the plaintext or the error code. */
async function outcome(fernet: Fernet, token: string, now: number): Promise<string> {
  try {
    return `plaintext ${toBase64Url(await fernet.decrypt(token, { ttl: 60, now }))}`;
  } catch (error) {
    if (error instanceof WirechatError) return error.code;
    throw error;
  }
}

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

describe('node:crypto and Web Crypto Fernet backends agree', () => {
  test("the same key, IV and time give the same token, and each decrypts the other's", async () => {
    await fc.assert(
      fc.asyncProperty(key, iv, time, plaintext, async (raw, ivBytes, seconds, message) => {
        const { web, node } = await pair(raw);
        const options = { iv: ivBytes, time: seconds };
        const [webToken, nodeToken] = [await web.encrypt(message, options), await node.encrypt(message, options)];
        assert.equal(webToken, nodeToken);
        assert.deepEqual(await node.decrypt(webToken, { now: seconds }), message);
        assert.deepEqual(await web.decrypt(nodeToken, { now: seconds }), message);
      }),
      RUNS,
    );
  });

  test('with default options each round-trips arbitrary bytes through the other', async () => {
    await fc.assert(
      fc.asyncProperty(key, plaintext, async (raw, message) => {
        const { web, node } = await pair(raw);
        assert.deepEqual(await web.decrypt(await node.encrypt(message), { ttl: 60 }), message);
        assert.deepEqual(await node.decrypt(await web.encrypt(message), { ttl: 60 }), message);
      }),
      RUNS,
    );
  });

  test('no 8-byte run of the plaintext appears in the token bytes', async () => {
    await fc.assert(
      fc.asyncProperty(key, fc.uint8Array({ minLength: 8, maxLength: 600 }), async (raw, message) => {
        const { web, node } = await pair(raw);
        for (const token of [await web.encrypt(message), await node.encrypt(message)]) {
          const bytes = fromBase64Url(token);
          for (let i = 0; i + 8 <= message.length; i += 8) {
            assert.ok(!contains(bytes, message.subarray(i, i + 8)), `plaintext bytes ${i}..${i + 8} leak`);
          }
        }
      }),
      RUNS,
    );
  });

  test('a token mutated at random is refused by both, with the same code', async () => {
    const raw = generateFernetKey();
    const { web, node } = await pair(raw);
    const NOW = 1_700_000_000;
    const token = await web.encrypt(new Uint8Array(40).fill(7), { time: NOW });
    const mutation = fc.oneof(
      // one character replaced by anything, base64url or not
      fc
        .tuple(fc.nat(token.length - 1), fc.constantFrom(...'AZaz09-_+/= .%\u00e9'))
        .map(([at, char]) => token.slice(0, at) + char + token.slice(at + 1)),
      // one byte changed in the decoded token, re-encoded
      fc.tuple(fc.nat(fromBase64Url(token).length - 1), fc.integer({ min: 1, max: 255 })).map(([at, xor]) => {
        const bytes = fromBase64Url(token);
        bytes[at]! ^= xor;
        return toBase64Url(bytes, true);
      }),
      fc.nat(token.length - 1).map((length) => token.slice(0, length)),
      fc.string({ maxLength: 8 }).map((tail) => token + tail),
      fc.string({ maxLength: 150 }),
    );
    await fc.assert(
      fc.asyncProperty(mutation, async (damaged) => {
        fc.pre(damaged !== token);
        const webResult = await outcome(web, damaged, NOW);
        assert.ok(!webResult.startsWith('plaintext'), `accepted ${damaged}`);
        assert.equal(await outcome(node, damaged, NOW), webResult);
      }),
      { numRuns: 400 },
    );
  });
});

describe("node:crypto's own PKCS #7 padding agrees with Web Crypto's and OpenSSL's", () => {
  // Tokens with a good HMAC over a chosen padded plaintext (AES-CBC without padding, then signed), its tail
  // padding-like, right or wrong in every way: both backends must answer each with the same plaintext or with
  // FERNET_BAD_PADDING, and OpenSSL's own unpadding must agree with which.
  const tail = fc.record({
    blocks: fc.integer({ min: 1, max: 4 }),
    padding: fc.integer({ min: 0, max: 18 }),
    damage: fc.option(fc.tuple(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 1, max: 255 }))),
  });
  test('a padded plaintext of every shape decrypts the same on both, or fails FERNET_BAD_PADDING on both', async () => {
    await fc.assert(
      fc.asyncProperty(key, iv, tail, async (raw, ivBytes, { blocks, padding, damage }) => {
        const padded = new Uint8Array(blocks * 16).fill(0x41);
        padded.fill(padding, Math.max(0, padded.length - Math.min(padding, 16)));
        if (damage) padded[padded.length - damage[0]]! ^= damage[1];
        const encryption = createCipheriv('aes-128-cbc', raw.subarray(16), ivBytes).setAutoPadding(false);
        const ciphertext = encryption.update(padded);
        const signed = Buffer.concat([Buffer.from([0x80]), Buffer.alloc(8), ivBytes, ciphertext]);
        const token = toBase64Url(
          Buffer.concat([signed, createHmac('sha256', raw.subarray(0, 16)).update(signed).digest()]),
          true,
        );
        let openssl: string;
        try {
          const decipher = createDecipheriv('aes-128-cbc', raw.subarray(16), ivBytes);
          openssl = `plaintext ${toBase64Url(Buffer.concat([decipher.update(ciphertext), decipher.final()]))}`;
        } catch {
          openssl = 'FERNET_BAD_PADDING';
        }
        const { web, node } = await pair(raw);
        assert.equal(await outcome(node, token, 0), openssl);
        assert.equal(await outcome(web, token, 0), openssl);
      }),
      { numRuns: 400 },
    );
  });
});

/** The page's codec: bytes.ts in JS. On Node, strictBase64Url (the server's Fernet codec) is Buffer's, held to it. */
const jsBase64Url: typeof strictBase64Url = { encode: (bytes) => toBase64UrlJs(bytes, true), decode: fromBase64UrlJs };

describe("the server's Fernet base64url (Buffer's) is as strict as the page's (bytes.ts in JS)", () => {
  test('encodes every byte string the same', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        assert.equal(strictBase64Url.encode(bytes), jsBase64Url.encode(bytes));
      }),
      { numRuns: 300 },
    );
  });

  test('accepts and refuses the same texts (whose length is a multiple of 4) with the same bytes', () => {
    const spelled = fc
      .tuple(
        fc.uint8Array({ maxLength: 40 }).map((bytes) => jsBase64Url.encode(bytes)),
        fc.nat(),
        // U+0141 and U+0144: Buffer would read them by their low bytes, as 'A' and 'D'.
        fc.constantFrom(...'AQgwBCDE-_+/= \n.%\u00e9\u0141\u0144'),
      )
      .map(([text, at, char]) =>
        text.length === 0 ? text : text.slice(0, at % text.length) + char + text.slice((at % text.length) + 1),
      );
    const decode = (codec: typeof strictBase64Url, text: string) => {
      try {
        return toBase64Url(codec.decode(text));
      } catch (error) {
        assert.ok(error instanceof WirechatError && error.code === 'BAD_BASE64', String(error));
        return 'refused';
      }
    };
    fc.assert(
      fc.property(fc.oneof(spelled, fc.string({ maxLength: 12 })), (text) => {
        fc.pre(text.length % 4 === 0);
        assert.equal(decode(strictBase64Url, text), decode(jsBase64Url, text), JSON.stringify(text));
      }),
      { numRuns: 1000 },
    );
  });

  test('refuses the spellings Buffer alone would take', () => {
    const canonical = jsBase64Url.encode(Uint8Array.of(0xfb, 0xff)); // '-_8='
    assert.equal(canonical, '-_8=');
    for (const lenient of ['+/8=', '-_9=', '-_==', '-_=8', ' -_8', '-_8\n', '-_\u0138=', '\u012d_8=']) {
      assert.throws(() => strictBase64Url.decode(lenient), WirechatError, JSON.stringify(lenient));
    }
    assert.deepEqual(strictBase64Url.decode(canonical), Uint8Array.of(0xfb, 0xff));
  });
});

describe('node:crypto keys', () => {
  test("createFernet and createMac zero the caller's raw bytes", async () => {
    const fernetKey = generateFernetKey();
    const fernet = await nodeCryptoBackend.createFernet(fernetKey);
    assert.deepEqual(fernetKey, new Uint8Array(32));
    const macKey = generateFernetKey();
    await nodeCryptoBackend.createMac(macKey);
    assert.deepEqual(macKey, new Uint8Array(32));
    // and the imported keys still work: zeroing happened after the KeyObjects copied the bytes
    const token = await fernet.encrypt(Uint8Array.of(1, 2, 3));
    assert.deepEqual(await fernet.decrypt(token), Uint8Array.of(1, 2, 3));
    assert.equal(parseToken(token).version, 0x80);
  });
});
